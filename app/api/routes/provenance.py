"""``/v1/jobs/{id}``: the model as ONNX, the reproducibility receipt, the lineage, replay."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import SessionDep, SettingsDep
from app.schemas.common import error_responses
from app.schemas.jobs import Job, Lineage
from app.schemas.provenance import Receipt
from app.services import export, jobs, lineage, receipts

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get(
    "/{job_id}/model.onnx",
    response_class=Response,
    responses={
        200: {
            "description": "The ONNX model (opset 17): input `inputs` [N, n_in]; outputs "
            "`outputs` [N, n_out] and, for classification, `labels` [N]",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **error_responses(404, 409),
    },
)
def model_onnx(job_id: str, session: SessionDep) -> Response:
    """The trained network as an ONNX model (a finished job with weights; 409 before)."""
    data = export.model_onnx(session, job_id)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="model-{job_id}.onnx"'},
    )


@router.get("/{job_id}/receipt", response_model=Receipt, responses=error_responses(404))
def receipt(job_id: str, session: SessionDep) -> Receipt:
    """Everything that determines the job's result, and the environment that produced it."""
    return receipts.receipt(session, job_id)


@router.get("/{job_id}/lineage", response_model=Lineage, responses=error_responses(404))
def job_lineage(job_id: str, session: SessionDep) -> Lineage:
    """The jobs this one descends from (`from_job`): its parent first."""
    found, missing = lineage.ancestors(session, job_id)
    return Lineage(job_id=job_id, ancestors=[jobs.view(session, j) for j in found], missing=missing)


@router.post(
    "/{job_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses=error_responses(404, 409, 429, 507),
)
def replay(job_id: str, session: SessionDep, settings: SettingsDep) -> Job:
    """Queue a new job with the same inputs; when it finishes its `replay` field says
    whether it reproduced the original bit for bit."""
    return jobs.view(session, receipts.replay(session, settings, job_id))
