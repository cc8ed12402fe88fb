"""The import direction of docs/design.md §2: routes are adapters, SQL stays in the data
and service layers, the engine imports NumPy and the standard library only, nothing
imports upward, and the worker never loads FastAPI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"

#: SQLAlchemy names that build statements; only the data and service layers use them.
STATEMENTS = {"select", "insert", "update", "delete", "text", "func", "exists", "case", "cast"}
#: Where SQL statements may be written.
SQL_HOMES = ("app/db/", "app/jobqueue.py", "app/services/")


def imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for every absolute import in ``path`` (name None for ``import m``)."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((node.module, alias.name) for alias in node.names)
    return found


def modules_of(folder: Path) -> set[str]:
    return {module for path in folder.rglob("*.py") for module, _ in imports(path)}


def under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


def test_app_never_imports_worker() -> None:
    assert not {m for m in modules_of(APP) if under(m, "worker")}


def test_app_package_init_is_empty() -> None:
    assert (APP / "__init__.py").read_text().strip() == ""


def test_the_engine_imports_numpy_and_the_standard_library_only() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "app"}
    outside = {m for m in modules_of(APP / "nn") if m.split(".")[0] not in allowed}
    assert not outside
    assert not {m for m in modules_of(APP / "nn") if under(m, "app") and not under(m, "app.nn")}


@pytest.mark.parametrize("path", python_files("app/api/routes"), ids=lambda p: p.name)
def test_routes_use_no_sqlalchemy_and_no_orm_models(path: Path) -> None:
    found = [(m, n) for m, n in imports(path) if under(m, "sqlalchemy", "app.db", "app.jobqueue")]
    assert not found


@pytest.mark.parametrize(
    "path", python_files("app", "worker"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_sql_statements_live_in_the_data_and_service_layers(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    if relative.startswith(SQL_HOMES):
        return
    built = [
        (m, n)
        for m, n in imports(path)
        if under(m, "sqlalchemy") and (n in STATEMENTS or under(m, "sqlalchemy.sql"))
    ]
    assert not built


def test_the_data_layer_imports_neither_the_queue_nor_the_services() -> None:
    assert not {m for m in modules_of(APP / "db") if under(m, "app.jobqueue", "app.services")}


def test_services_and_the_queue_do_not_import_the_http_layer() -> None:
    below = modules_of(APP / "services") | {m for m, _ in imports(APP / "jobqueue.py")}
    assert not {m for m in below if under(m, "app.api", "fastapi", "starlette")}


def test_the_worker_does_not_import_the_http_layer() -> None:
    assert not {m for m in modules_of(ROOT / "worker") if under(m, "app.api", "fastapi")}


def test_the_worker_does_not_load_fastapi() -> None:
    code = "import sys, worker.runner; print('fastapi' in sys.modules, 'starlette' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False False"


@pytest.mark.parametrize("path", python_files("app/api/routes"), ids=lambda p: p.name)
def test_routes_are_short_adapters(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 150
