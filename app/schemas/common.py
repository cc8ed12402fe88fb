"""Models shared by every router: the error body and paging."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: what is wrong and where (field, row, column)."""

    detail: str = Field(examples=["network.sizes: sizes[0] is 3 but the dataset has 2 features"])


class ValidationErrorResponse(ErrorResponse):
    """422 for a request that fails validation; ``errors`` lists each problem."""

    errors: list[dict[str, Any]] = Field(default_factory=list)


def error_responses(*codes: int, database: bool = True) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting the given error statuses, plus 422 (every
    validation error, even of a path parameter, has the ``ValidationErrorResponse`` body)
    and, for an operation that uses the ``database``, 503 (any request that reads it meets
    that while the database is down)."""
    described = {
        400: "Bad request",
        404: "Not found",
        409: "Conflict with the resource's state",
        413: "Request body larger than BACKPROP_MAX_BODY_BYTES",
        422: "Invalid input: the detail names the field (or CSV row/column) and the problem",
        503: "The database does not answer (restarting, down, locked too long): retry after "
        "the Retry-After seconds",
        507: "No space left on the database's volume: nothing was stored",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, 422, *((503,) if database else ())}):
        model = ValidationErrorResponse if code == 422 else ErrorResponse
        out[code] = {"model": model, "description": described.get(code, "Error")}
    return out


def example(summary: str, value: Any) -> dict[str, Any]:
    """One named ``openapi_examples`` entry (shown by "Try it out" in /docs)."""
    return {"summary": summary, "value": value}
