"""Dependency aliases shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.limits import Limits


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request, from the engine the lifespan created."""
    with request.app.state.sessionmaker() as session:
        yield session


def get_sessions(request: Request) -> sessionmaker[Session]:
    """The session factory, for routes that open short sessions of their own (streams)."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    return sessions


def get_limits(settings: Annotated[Settings, Depends(get_app_settings)]) -> Limits:
    """The request limits in force (``app.limits``)."""
    return Limits.from_settings(settings)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
LimitsDep = Annotated[Limits, Depends(get_limits)]


def page_limit(limit: int | None, settings: Settings) -> int:
    """A list endpoint's page size: the client's, or the default, at most the maximum."""
    return min(limit or settings.page_size, settings.max_page_size)
