"""The dashboard page at `/`, the playground at `/playground`, and their static files
(self-hosted, no CDN, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
# Served by name from a fixed list: no path from the URL ever reaches the file system.
STATIC_FILES = {p.name: p for p in STATIC_DIR.iterdir() if p.suffix in MEDIA_TYPES}


@router.get("/")
def dashboard() -> FileResponse:
    """The job list and the selected job's live curves."""
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


@router.get("/playground")
def playground() -> FileResponse:
    """Build a network, train it on a toy dataset, watch the boundary and the deltas."""
    return FileResponse(
        STATIC_DIR / "playground.html",
        media_type="text/html",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    path = STATIC_FILES.get(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    return FileResponse(
        path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
    )
