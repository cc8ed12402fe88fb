"""Debian's Chromium driven by Playwright, for the browser tests (tests/web) and the
screenshot script: where the binary is, how it is started, and a recorder of what a page
asked for and complained about."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} is absent (install it with: apt-get install -y chromium)",
)


@dataclass
class PageLog:
    """Every request a page makes, its console errors and its uncaught exceptions."""

    requests: list[Any] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @classmethod
    def attach(cls, page: Any) -> PageLog:
        log = cls()
        page.on("request", lambda request: log.requests.append(request))
        page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        return log

    def outside(self, base_url: str) -> list[str]:
        """URLs requested from anywhere but ``base_url`` (blob: and data: URLs are
        in-memory objects of the page)."""
        own = (f"{base_url}/", f"blob:{base_url}/", "data:")
        return [r.url for r in self.requests if not r.url.startswith(own)]
