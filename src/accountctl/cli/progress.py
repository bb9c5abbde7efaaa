"""A progress bar on stderr for imports and syncs that run over a second, and only on a terminal."""

from __future__ import annotations

import sys
import time

import click

DELAY = 1.0  # seconds of work before a bar appears: quick runs stay quiet


def _isatty() -> bool:
    return sys.stderr.isatty()


class Progress:
    """Call with the number of items done so far; a bar appears once the work has run over a second."""

    def __init__(self, label: str):
        self.label = label
        self.total = 0
        self.done = 0
        self.start = time.monotonic()
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not _isatty():
            return
        if self.bar is None:
            if time.monotonic() - self.start < DELAY:
                return
            self.total = total
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
