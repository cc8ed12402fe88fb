"""``POST /v1/datasets/preview``: a toy dataset's points without storing it (the
playground draws them as soon as a dataset is picked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.api.deps import LimitsDep
from app.schemas.common import error_responses
from app.schemas.datasets import GENERATE_EXAMPLES, DatasetGenerate, DatasetPreview
from app.services import datasets

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.post(
    "/preview", response_model=DatasetPreview, responses=error_responses(422, database=False)
)
def preview_dataset(
    body: Annotated[DatasetGenerate, Body(openapi_examples=GENERATE_EXAMPLES)],
    limits: LimitsDep,
) -> DatasetPreview:
    """The points `POST /v1/datasets/generate` would store for the same body, bit for bit
    (the generators are seeded); nothing is stored. At most 10,000 samples."""
    return datasets.preview(limits, body)
