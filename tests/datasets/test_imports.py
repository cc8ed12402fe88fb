"""app.datasets depends on NumPy and the standard library only (docs/design.md §2)."""

import subprocess
import sys


def test_datasets_loads_no_web_or_database_code() -> None:
    code = (
        "import sys, app.datasets\n"
        "heavy = {'fastapi', 'starlette', 'pydantic', 'sqlalchemy', 'alembic', 'worker'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
