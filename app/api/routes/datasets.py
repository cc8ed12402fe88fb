"""``/v1/datasets``: create (JSON, upload, generate), list, get, download, delete."""

from __future__ import annotations

import io
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Body, File, Form, Query, Response, UploadFile, status

from app.api.deps import SessionDep, SettingsDep
from app.datasets import (
    ParsedDataset,
    decode_array,
    encode_array,
    generate,
    parse_arrays,
    parse_csv,
    parse_npz,
)
from app.db import queries
from app.db.models import Dataset as DatasetRow
from app.db.types import utcnow
from app.limits import Limits
from app.schemas.common import error_responses, example
from app.schemas.datasets import (
    Dataset,
    DatasetArrays,
    DatasetCreate,
    DatasetGenerate,
    DatasetList,
    TaskOption,
)

XOR_LABELS = {
    "name": "xor",
    "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]],
    "labels": [0, 1, 1, 0],
}
GENERATE_XOR = {"kind": "xor", "n_samples": 200, "noise": 0.1, "seed": 0, "name": "xor"}

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


def _store(session: SessionDep, settings: SettingsDep, name: str, parsed: ParsedDataset) -> Dataset:
    """Check the size limit, then persist a parsed dataset with its arrays as ``.npy``
    bytes (every creating route comes through here)."""
    inputs, targets = parsed.inputs, parsed.targets
    Limits.from_settings(settings).check_dataset(*inputs.shape)
    row = DatasetRow(
        name=name,
        n_samples=int(inputs.shape[0]),
        n_features=int(inputs.shape[1]),
        n_outputs=int(targets.shape[1]),
        task=parsed.task,
        classes=list(parsed.classes) if parsed.classes is not None else None,
        inputs=encode_array(inputs),
        targets=encode_array(targets),
        created_at=utcnow(),
    )
    return Dataset.model_validate(queries.add_dataset(session, row))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Dataset,
    responses=error_responses(413, 422),
)
def create_dataset(
    body: Annotated[
        DatasetCreate,
        Body(
            openapi_examples={
                "xor": example("XOR with class labels", XOR_LABELS),  # type: ignore[index]
                "regression": example(
                    "y = 2x + 1 (targets)",
                    {
                        "name": "line",
                        "inputs": [[0], [1], [2], [3]],
                        "targets": [[1], [3], [5], [7]],
                    },
                ),
            }
        ),
    ],
    session: SessionDep,
    settings: SettingsDep,
) -> Dataset:
    """A dataset from JSON arrays: ``inputs`` and ``targets``, or class ``labels``."""
    parsed = parse_arrays(body.inputs, targets=body.targets, labels=body.labels, task=body.task)
    return _store(session, settings, body.name, parsed)


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=Dataset,
    responses=error_responses(413, 422),
)
def upload_dataset(
    session: SessionDep,
    settings: SettingsDep,
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
    data = file.file.read()
    filename = file.filename or "upload"
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".npz"):
        parsed = parse_npz(data, task=task)
    else:
        columns = [c.strip() for c in target.split(",") if c.strip()] if target else None
        parsed = parse_csv(data, target=columns, task=task)
    return _store(session, settings, name or filename, parsed)


@router.post(
    "/generate",
    status_code=status.HTTP_201_CREATED,
    response_model=Dataset,
    responses=error_responses(422),
)
def generate_dataset(
    body: Annotated[
        DatasetGenerate,
        Body(
            openapi_examples={
                "xor": example("200 noisy XOR points (then POST /v1/jobs)", GENERATE_XOR),
                "spirals": example(
                    "two spirals", {"kind": "spirals", "n_samples": 300, "noise": 0.1, "seed": 0}
                ),
            }
        ),
    ],
    session: SessionDep,
    settings: SettingsDep,
) -> Dataset:
    """A seeded toy dataset: xor, circles, moons, spirals, blobs or sine."""
    parsed = generate(
        body.kind,
        n_samples=body.n_samples,
        noise=body.noise,
        seed=body.seed,
        n_classes=body.n_classes,
    )
    return _store(session, settings, body.name or body.kind, parsed)


@router.get("", response_model=DatasetList, responses=error_responses(422))
def list_datasets(
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> DatasetList:
    """Datasets, newest first, ``limit`` at a time from ``offset``."""
    limit = min(limit or settings.page_size, settings.max_page_size)
    rows, total = queries.list_datasets(session, limit, offset)
    items = [Dataset.model_validate(r) for r in rows]
    return DatasetList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{dataset_id}", response_model=Dataset, responses=error_responses(404))
def get_dataset(dataset_id: str, session: SessionDep) -> Dataset:
    """One dataset's metadata."""
    return Dataset.model_validate(queries.get_dataset(session, dataset_id))


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
    row = queries.get_dataset(session, dataset_id, arrays=True)
    inputs, targets = decode_array(row.inputs), decode_array(row.targets)
    if format == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, inputs=inputs, targets=targets)
        return Response(
            buffer.getvalue(),
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="dataset-{row.id}.npz"'},
        )
    return DatasetArrays(inputs=inputs.tolist(), targets=targets.tolist(), classes=row.classes)


@router.delete(
    "/{dataset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404, 409),
)
def delete_dataset(dataset_id: str, session: SessionDep) -> Response:
    """Delete a dataset (409 while a queued or running job uses it)."""
    queries.delete_dataset(session, dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
