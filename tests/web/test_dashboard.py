"""The dashboard page and its static files (served by the API, nothing from elsewhere)."""

from __future__ import annotations

import re

import httpx

from app.api.routes.dashboard import STATIC_DIR


def test_dashboard_page(api: httpx.Client) -> None:
    response = api.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<script src="/static/dashboard.js" defer></script>' in html
    assert '<link rel="stylesheet" href="/static/dashboard.css">' in html


def test_static_files_are_served_with_their_types(api: httpx.Client) -> None:
    js = api.get("/static/dashboard.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.content == (STATIC_DIR / "dashboard.js").read_bytes()
    css = api.get("/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_unknown_static_files_are_404(api: httpx.Client) -> None:
    for path in ("/static/nope.js", "/static/..%2Fapi%2Fmain.py", "/static/%2e%2e"):
        assert api.get(path).status_code == 404, path


def test_no_external_urls_in_the_page_assets() -> None:
    """No CDN: every URL in the page, script and style sheet is relative to the API."""
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        external = re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", text)
        assert not external, f"{path.name} loads something from another host: {external}"
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text


def test_playground_page_has_labelled_controls(api: httpx.Client) -> None:
    response = api.get("/playground")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<script src="/static/common.js" defer></script>' in html
    assert '<script src="/static/playground.js" defer></script>' in html
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    labels = dict(re.findall(r'<label for="([^"]+)">([^<]+)</label>', html))
    for name in ("Dataset", "Noise", "Hidden layers", "Activation", "Learning rate",
                 "Batch size", "Epochs"):  # fmt: skip
        target = next((k for k, v in labels.items() if v == name), None)
        assert target in ids, f"no control labelled {name!r}"
    for button in ("Train", "Step"):
        assert re.search(rf"<button [^>]*>{button}</button>", html), button
    # The dashboard links to it.
    assert '<a href="/playground">Playground</a>' in api.get("/").text
