"""A rich progress bar over the rows of the database, shown only when there are enough to wait for."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import Progress, TaskID

SHOW_FROM_ROWS = 20_000


class RowProgress:
    def __init__(self, console: Console, show_from_rows: int = SHOW_FROM_ROWS) -> None:
        self.console = console
        self.show_from_rows = show_from_rows
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def start(self, total_rows: int) -> None:
        if total_rows >= self.show_from_rows and self._bar is None:
            self._bar = Progress(console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("scanning the database", total=total_rows)

    def advance(self, rows: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, rows)

    def __enter__(self) -> RowProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
