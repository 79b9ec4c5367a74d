"""Progress of long demo steps: a transient rich bar on a terminal, nothing otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_steps(enabled: bool) -> Iterator[Callable[[str, int], Callable[[], None]]]:
    """Yields ``step(description, total) -> advance``; a transient rich bar on a terminal, nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield lambda description, total: lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<20}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:

        def step(description: str, total: int) -> Callable[[], None]:
            task = bar.add_task(description, total=max(total, 1))
            if total == 0:
                bar.advance(task)
            return lambda: bar.advance(task)

        yield step
