"""A small disk of its own for a SQLite database: a tmpfs mounted for one test, and a
filler file to make that disk full (and to free it again)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def mount_reason() -> str | None:
    """Why a tmpfs cannot be mounted here (None: it can)."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs volume needs root"
    return None


@contextmanager
def small_volume(path: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of ``megabytes`` mounted at ``path`` while the block runs (skips the test,
    with the reason, where mounting is impossible)."""
    reason = mount_reason()
    if reason is not None:
        pytest.skip(reason)
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(volume: Path, leave: int = 0) -> Path:
    """Write a filler file until ``volume`` has at most ``leave`` bytes free; returns it
    (delete it to give the space back)."""
    filler = volume / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb") as out:
        while True:
            stats = os.statvfs(volume)
            free = stats.f_bavail * stats.f_frsize
            if free <= leave:
                break
            try:
                out.write(chunk[: min(len(chunk), free - leave)])
                out.flush()
            except OSError:
                break
    return filler
