"""HTTP client of the Backprop API for the CLI (httpx), with errors as one clear line.

    CLIError(Exception)            message shown as "error: ..." and exit code 1
    └── ApiError                   a 4xx/5xx answer: .status, .detail (from {"detail": ...})

`BACKPROP_URL` (default http://127.0.0.1:8000) says where the API is; `BACKPROP_API_KEY`,
when set, is sent as `Authorization: Bearer <key>` with every request.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, Self

import httpx
from httpx_sse import ServerSentEvent, connect_sse

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT = httpx.Timeout(60.0, connect=5.0)


class CLIError(Exception):
    """Anything the CLI reports as one line and a non-zero exit code."""

    exit_code = 1


class ApiError(CLIError):
    """The API answered with an error status."""

    def __init__(self, status: int, method: str, path: str, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{method} {path} failed ({status}): {detail}")


def command(func: Callable[..., int]) -> Callable[..., int]:
    """Wrap a subcommand: a CLIError becomes one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return func(*args, **kwargs)
        except CLIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code

    return wrapper


def format_detail(detail: Any) -> str:
    """FastAPI's `detail`: a sentence, or pydantic's list of {loc, msg} made one line."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
                parts.append(f"{'.'.join(loc)}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(json.dumps(item))
        return "; ".join(parts)
    return json.dumps(detail)


def _error_from(response: httpx.Response) -> ApiError:
    try:
        detail = format_detail(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        detail = response.text.strip() or response.reason_phrase
    request = response.request
    return ApiError(response.status_code, request.method, request.url.path, detail)


class BackpropClient:
    """One method per REST call the CLI makes (docs/design.md §3), over one httpx.Client."""

    def __init__(
        self, base_url: str | None = None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = (base_url or os.environ.get("BACKPROP_URL") or DEFAULT_URL).rstrip("/")
        key = os.environ.get("BACKPROP_API_KEY", "").strip()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(
            base_url=self.base_url, timeout=TIMEOUT, transport=transport, headers=headers
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CLIError(
                f"cannot reach the Backprop API at {self.base_url} ({exc.__class__.__name__}: "
                f"{exc}); is `backprop serve` running? Set BACKPROP_URL to point elsewhere"
            ) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def upload_dataset(self, filename: str, content: bytes, form: dict[str, str]) -> Any:
        files = {"file": (filename, content, "application/octet-stream")}
        return self.json("POST", "/v1/datasets/upload", files=files, data=form)

    def generate_dataset(self, body: dict[str, Any]) -> Any:
        return self.json("POST", "/v1/datasets/generate", json=body)

    def list_datasets(self, limit: int) -> list[dict[str, Any]]:
        return _items(self.json("GET", "/v1/datasets", params={"limit": limit}))

    def create_job(self, body: dict[str, Any]) -> Any:
        return self.json("POST", "/v1/jobs", json=body)

    def list_jobs(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return _items(self.json("GET", "/v1/jobs", params=params))

    def get_job(self, job_id: str) -> Any:
        return self.json("GET", f"/v1/jobs/{job_id}")

    def cancel_job(self, job_id: str) -> Any:
        return self.json("POST", f"/v1/jobs/{job_id}/cancel")

    def delete_job(self, job_id: str) -> None:
        self.request("DELETE", f"/v1/jobs/{job_id}")

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        return _items(self.json("GET", f"/v1/jobs/{job_id}/metrics"))

    def weights(self, job_id: str, fmt: str, epoch: int | None = None) -> bytes:
        params: dict[str, Any] = {"format": "npz"} if fmt == "npz" else {}
        if epoch is not None:
            params["epoch"] = epoch
        return self.request("GET", f"/v1/jobs/{job_id}/weights", params=params).content

    def predict(self, job_id: str, inputs: list[list[float]]) -> Any:
        return self.json("POST", f"/v1/jobs/{job_id}/predict", json={"inputs": inputs})

    def model_onnx(self, job_id: str) -> bytes:
        return self.request("GET", f"/v1/jobs/{job_id}/model.onnx").content

    def receipt(self, job_id: str) -> Any:
        return self.json("GET", f"/v1/jobs/{job_id}/receipt")

    def lineage(self, job_id: str) -> Any:
        return self.json("GET", f"/v1/jobs/{job_id}/lineage")

    def replay(self, job_id: str) -> Any:
        return self.json("POST", f"/v1/jobs/{job_id}/replay")

    def events(self, job_id: str, last_event_id: str | None) -> Iterator[ServerSentEvent]:
        """The job's event stream from after `last_event_id`; ends when the job ends.

        Transport errors propagate as httpx errors: the caller decides to reconnect."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        timeout = httpx.Timeout(None, connect=5.0)  # quiet epochs are not an error
        with connect_sse(
            self.http, "GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=timeout
        ) as source:
            response = source.response
            if response.status_code == 204:
                return
            if response.status_code >= 400:
                response.read()
                raise _error_from(response)
            yield from source.iter_sse()


def _items(page: Any) -> list[dict[str, Any]]:
    if isinstance(page, dict):
        return list(page.get("items", []))
    return list(page or [])
