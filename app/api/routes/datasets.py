"""``/v1/datasets``: create (JSON, upload, generate), list, get, download, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, File, Form, Query, Response, UploadFile, status

from app.api.deps import LimitsDep, SessionDep, SettingsDep, page_limit
from app.schemas.common import error_responses
from app.schemas.datasets import (
    CREATE_EXAMPLES,
    GENERATE_EXAMPLES,
    Dataset,
    DatasetArrays,
    DatasetCreate,
    DatasetGenerate,
    DatasetList,
    TaskOption,
)
from app.services import datasets

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Dataset,
    responses=error_responses(413, 422, 507),
)
def create_dataset(
    body: Annotated[DatasetCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    session: SessionDep,
    limits: LimitsDep,
) -> Dataset:
    """A dataset from JSON arrays: ``inputs`` and ``targets``, or class ``labels``."""
    return Dataset.model_validate(datasets.create(session, limits, body))


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=Dataset,
    responses=error_responses(413, 422, 507),
)
def upload_dataset(
    session: SessionDep,
    limits: LimitsDep,
    file: Annotated[UploadFile, File(description="CSV with a header row, or .npz")],
    name: Annotated[str | None, Form(max_length=200)] = None,
    target: Annotated[
        str | None,
        Form(description="CSV target column name(s), comma-separated; default: the last"),
    ] = None,
    task: Annotated[TaskOption, Form()] = "auto",
) -> Dataset:
    """A dataset from a CSV file (header row) or an ``.npz`` with ``inputs`` and
    ``targets``/``labels`` (no pickles)."""
    row = datasets.upload(
        session,
        limits,
        file.file,
        file.filename or "upload",
        name=name,
        target=target,
        task=task,
    )
    return Dataset.model_validate(row)


@router.post(
    "/generate",
    status_code=status.HTTP_201_CREATED,
    response_model=Dataset,
    responses=error_responses(422, 507),
)
def generate_dataset(
    body: Annotated[DatasetGenerate, Body(openapi_examples=GENERATE_EXAMPLES)],
    session: SessionDep,
    limits: LimitsDep,
) -> Dataset:
    """A seeded toy dataset: xor, circles, moons, spirals, blobs or sine."""
    return Dataset.model_validate(datasets.generated(session, limits, body))


@router.get("", response_model=DatasetList, responses=error_responses(422))
def list_datasets(
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> DatasetList:
    """Datasets, newest first, ``limit`` at a time from ``offset``."""
    limit = page_limit(limit, settings)
    rows, total = datasets.page(session, limit, offset)
    items = [Dataset.model_validate(r) for r in rows]
    return DatasetList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{dataset_id}", response_model=Dataset, responses=error_responses(404))
def get_dataset(dataset_id: str, session: SessionDep) -> Dataset:
    """One dataset's metadata."""
    return Dataset.model_validate(datasets.get(session, dataset_id))


@router.get(
    "/{dataset_id}/download",
    response_model=DatasetArrays,
    responses={
        200: {
            "description": "JSON arrays, or an .npz file (inputs, targets) with format=npz",
            "content": {"application/octet-stream": {}},
        },
        **error_responses(404, 422),
    },
)
def download_dataset(
    dataset_id: str,
    session: SessionDep,
    format: Literal["json", "npz"] = "json",
) -> DatasetArrays | Response:
    """The stored arrays: JSON (default) or ``format=npz``."""
    found = datasets.arrays(session, dataset_id)
    if format == "npz":
        return Response(
            found.npz(),
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="dataset-{dataset_id}.npz"'},
        )
    return DatasetArrays(
        inputs=found.inputs.tolist(),
        targets=found.targets.tolist(),
        classes=found.dataset.classes,
    )


@router.delete(
    "/{dataset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404, 409),
)
def delete_dataset(dataset_id: str, session: SessionDep) -> Response:
    """Delete a dataset (409 while a queued or running job uses it)."""
    datasets.remove(session, dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
