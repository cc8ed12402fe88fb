"""Dependency aliases shared by the routers.

Dependencies that only read the app's state are ``async def``: FastAPI runs a plain
``def`` dependency in its thread pool, a hop that costs more than the read. The session
stays a plain generator: closing it may wait on the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.limits import Limits


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request, from the engine the lifespan created."""
    with request.app.state.sessionmaker() as session:
        yield session


async def get_sessions(request: Request) -> sessionmaker[Session]:
    """The session factory, for routes that open short sessions of their own (streams)."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    return sessions


async def get_limits(settings: Annotated[Settings, Depends(get_app_settings)]) -> Limits:
    """The request limits in force (``app.limits``)."""
    return Limits.from_settings(settings)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
LimitsDep = Annotated[Limits, Depends(get_limits)]


def page_limit(limit: int | None, settings: Settings) -> int:
    """A list endpoint's page size: the client's, or the default, at most the maximum."""
    return min(limit or settings.page_size, settings.max_page_size)
