"""The import direction of docs/design.md §2: worker -> app, app.nn -> numpy only, app never
imports worker, and the worker never loads FastAPI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: Path) -> set[str]:
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


def test_app_never_imports_worker() -> None:
    modules = imported_modules(ROOT / "app")
    assert not {m for m in modules if m == "worker" or m.startswith("worker.")}


def test_app_package_init_is_empty() -> None:
    assert (ROOT / "app" / "__init__.py").read_text().strip() == ""


def test_the_worker_does_not_load_fastapi() -> None:
    code = "import sys, worker.runner; print('fastapi' in sys.modules, 'starlette' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False False"
