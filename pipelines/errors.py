"""One error type for bad input, so every caller (tests, CLI, daemon) can report it in one line."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input data: names the file, the place in it (line, row, record) and the problem.

    `str(err)` is a single line such as ``data.csv: line 17: expected 5 fields, found 4``.
    """

    def __init__(self, problem: str, *, path: str | Path | None = None, where: str | None = None):
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.where = where
        parts = [p for p in (self.path, self.where, problem) if p]
        super().__init__(": ".join(parts))
