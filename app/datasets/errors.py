"""The one error of `app.datasets`.

    ValueError
    └── DatasetError      .field, .row, .column, .message
        └── DatasetTooLarge   .values, .limit (more values than the caller allows)

Every problem with a dataset a user sent (JSON arrays, CSV, .npz) or with the
parameters of a generator is a `DatasetError`. Its text is one sentence that
says where and what, in the same shape as `app.nn.SpecError`:

    str(e) == f"{where}: {message}"

where `where` joins what is known of the place, in this order, with ", ":
the field (`inputs[2]`, `labels`, `target`, `file`), the 1-based data row
(`row 3`, the CSV header is not counted) and the column (`column 'x2'`), e.g.
"row 3, column 'x2': 'abc' is not a number". The API turns it into a 4xx
`{"detail": str(e)}`.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset (or a generator's parameters) that cannot be used, and where."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.field = field
        self.row = row
        self.column = column
        self.message = message
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        where = []
        if self.field is not None:
            where.append(self.field)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if not where:
            return self.message
        return f"{', '.join(where)}: {self.message}"

    def __str__(self) -> str:
        return self._sentence()


class DatasetTooLarge(DatasetError):
    """A dataset with more values than the parser was allowed (``max_values``), refused
    before it was read in full: ``.values`` is the count found (for a file read as a
    stream, the count when reading stopped: a lower bound), ``.limit`` the cap."""

    def __init__(
        self,
        message: str,
        *,
        values: int,
        limit: int,
        field: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.values = values
        self.limit = limit
        super().__init__(message, field=field, row=row, column=column)
