"""What the pipelines tell the user besides errors: a choice they made or a file they wrote, logged
at INFO once per process (the CLI shows memcast's INFO lines; a library caller sees them only if it
configures logging)."""

from __future__ import annotations

import logging

_announced: set[tuple[str, str]] = set()


def announce(logger: str, message: str) -> None:
    """Log `message` at INFO on `logger` (e.g. "pipelines.genomes"), once per process."""
    if (logger, message) not in _announced:
        _announced.add((logger, message))
        logging.getLogger(logger).info(message)
