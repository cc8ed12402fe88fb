"""app.nn imports NumPy and the standard library only (docs/design.md §2)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import app.nn

NN_DIR = Path(app.nn.__file__).parent


def test_engine_imports_only_numpy_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "app", "__future__"}
    for path in NN_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in allowed, f"{path.name} imports {name}"
                if top == "app":
                    assert name.startswith("app.nn"), f"{path.name} imports {name}"
