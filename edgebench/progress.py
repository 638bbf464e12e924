"""Progress lines, progress bars and stage times for long work: the one facility every long command uses.

    from edgebench.progress import Progress

    progress = Progress(enabled=True, quiet=False)      # what the CLI makes (`--quiet` sets quiet=True)
    with progress.stage("calibration"):                 # prints "calibration ..." then "calibration: 3.2 s"
        for image in progress.bar(images, desc="calibration images"):
            ...
    with progress.counter(total=8, desc="trials") as advance:   # for loops you do not own
        ...; advance()                                  # one step (advance(3) for three)
    progress.note("wrote model.onnx")                   # one plain line
    manifest["stage_times"] = progress.records()        # [{"stage": "calibration", "seconds": 3.214}, ...]

Rules:
- `Progress()` (the default, what the Python API uses) is disabled: it prints nothing, shows no bar, and still
  records every stage's seconds, so a manifest written from Python carries them too.
- Enabled, with a terminal on the stream, bars are tqdm bars (cleared when done). With `quiet=True`, or when the
  stream is not a terminal (a log file, CI), there are no bars: a stage prints one line when it ends, and a bar
  prints a plain "desc: i/n" line at most every `plain_interval_s` seconds plus one when it ends.
- Stages nest; a nested stage is indented under its parent and recorded with its own name (names may repeat,
  e.g. one per quantization trial). A stage that raises is recorded with `"failed": true` and re-raises.
- `Progress(enabled=True, write=log)` sends every line through a caller's line printer (a `log` callable that
  already decides whether anything is shown) and draws no bars: the bridge for code that takes `log=`.
- `echo` is the `log=` of work that prints its own lines while this reporter draws bars on the same stream.
- A command's reporter writes to `stdout_copy()`: its lines and bars reach the console even while TensorFlow's
  converter runs with file descriptors 1 and 2 parked (the TFLite calibration bar).
- `record(name, seconds)` adds a stage that ran in another process beside this one's (`"elsewhere": true`).
- `child(quiet=...)`/`disabled()` are the ways to hand a reporter to work that should print less; the stage
  list is the caller's (`stages`, `records()`), never a module global.
"""
from __future__ import annotations

import io
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, Optional, TextIO, TypeVar, Union

Item = TypeVar("Item")

#: Seconds between two plain progress lines of one bar (no terminal, or quiet).
PLAIN_INTERVAL_S = 10.0


@dataclass(frozen=True)
class StageTime:
    """One finished stage: its name, its wall-clock seconds, how deep it was nested, whether it raised."""
    name: str
    seconds: float
    depth: int = 0
    failed: bool = False
    elsewhere: bool = False  # ran in another process beside this one's stages (not part of their sum)

    def as_record(self) -> dict:
        record = {"stage": self.name, "seconds": round(self.seconds, 3)}
        if self.depth:
            record["depth"] = self.depth
        if self.elsewhere:
            record["elsewhere"] = True
        if self.failed:
            record["failed"] = True
        return record


class Progress:
    """Prints progress for long work and records stage times (see the module docstring for the rules)."""

    def __init__(self, *, enabled: bool = False, quiet: bool = False, stream: Optional[TextIO] = None,
                 plain_interval_s: float = PLAIN_INTERVAL_S, write: Optional[Callable[[str], None]] = None):
        self.enabled = enabled
        self.write = write
        self.quiet = quiet
        self._stream = stream
        self.plain_interval_s = plain_interval_s
        self.stages: List[StageTime] = []
        self._depth = 0
        self._lock = threading.Lock()

    # ---- what the caller reads -----------------------------------------------------------------------
    def records(self) -> List[dict]:
        """The stage times as JSON-ready dicts, in the order the stages finished (the manifest's field)."""
        with self._lock:
            return [stage.as_record() for stage in self.stages]

    def seconds(self, name: str) -> float:
        """Total seconds of every stage called `name` (0.0 when none ran)."""
        with self._lock:
            return sum(stage.seconds for stage in self.stages if stage.name == name)

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def uses_bars(self) -> bool:
        """True when bars are drawn with tqdm (enabled, not quiet, the stream is a terminal)."""
        if not self.enabled or self.quiet or self.write is not None:
            return False
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    # ---- what the caller does ------------------------------------------------------------------------
    def note(self, message: str) -> None:
        """Print one line (indented under the open stage); nothing when disabled."""
        if self.enabled:
            self._write("  " * self._depth + message)

    def echo(self, line: str) -> None:
        """Print one line as given (no indent), without tearing an open bar; nothing when disabled: the `log=`
        of work that prints its own lines while this reporter draws bars on the same stream."""
        if self.enabled:
            self._write(line)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage `name`; prints its seconds when it ends (when enabled)."""
        if self.uses_bars:
            self._write("  " * self._depth + f"{name} ...")
        depth = self._depth
        self._depth += 1
        started = time.perf_counter()
        failed = True
        try:
            yield
            failed = False
        finally:
            seconds = time.perf_counter() - started
            self._depth = depth
            with self._lock:
                self.stages.append(StageTime(name=name, seconds=seconds, depth=depth, failed=failed))
            if self.enabled:
                self._write("  " * depth + f"{name}: {_format_seconds(seconds)}" + (" (failed)" if failed else ""))

    def record(self, name: str, seconds: float) -> None:
        """A stage that ran in another process, beside this one's (a worker's own seconds): recorded under the
        open stage with `"elsewhere": true`, and printed like a stage's end."""
        with self._lock:
            self.stages.append(StageTime(name=name, seconds=seconds, depth=self._depth, elsewhere=True))
        if self.enabled:
            self._write("  " * self._depth + f"{name}: {_format_seconds(seconds)}")

    def bar(self, items: Union[int, Iterable[Item]], *, desc: str, total: Optional[int] = None,
            unit: str = "it") -> Iterator[Item]:
        """Iterate `items` (or range(items) for an int) showing progress; yields the items unchanged."""
        if isinstance(items, int):
            total, items = items, range(items)
        elif total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        with self.counter(total=total, desc=desc, unit=unit) as advance:
            for item in items:
                yield item
                advance()

    @contextmanager
    def counter(self, *, total: Optional[int], desc: str, unit: str = "it") -> Iterator[Callable[..., None]]:
        """A bar for a loop the caller does not own: yields `advance(n=1)`; closes the bar on exit."""
        if not self.enabled:
            yield _ignore
            return
        if self.uses_bars:
            from tqdm import tqdm  # a dependency of the host package; imported only when a bar is drawn
            bar = tqdm(total=total, desc="  " * self._depth + desc, unit=unit, leave=False, file=self.stream,
                       dynamic_ncols=True)
            try:
                yield bar.update
            finally:
                bar.close()
            return
        plain = _PlainCounter(self, total=total, desc="  " * self._depth + desc)
        try:
            yield plain.advance
        finally:
            plain.finish()

    def child(self, *, quiet: Optional[bool] = None) -> "Progress":
        """A reporter for sub-work that prints like this one (or quieter) and keeps its own stage list."""
        return Progress(enabled=self.enabled, quiet=self.quiet if quiet is None else quiet, stream=self._stream,
                        plain_interval_s=self.plain_interval_s, write=self.write)

    def _write(self, line: str) -> None:
        if self.write is not None:
            self.write(line)
            return
        with self._lock:
            if self.uses_bars:
                from tqdm import tqdm  # keeps the line from tearing an open bar
                tqdm.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)


def disabled() -> Progress:
    """A reporter that prints nothing and still records stage times (the Python API's default)."""
    return Progress(enabled=False)


def through(log: Callable[[str], None]) -> Progress:
    """A reporter whose lines go through `log` (shown or not as `log` decides), without bars."""
    return Progress(enabled=True, write=log)


def stdout_copy() -> TextIO:
    """A stream on a duplicate of stdout's file descriptor, for a command's progress: TensorFlow's converter
    runs with descriptors 1 and 2 parked in a temp file (`edgebench.export.tflite.quiet`), and a bar drawn
    meanwhile (TFLite calibration) must still reach the console. stdout itself when it has no descriptor (a
    test runner's capture)."""
    try:
        sys.stdout.flush()
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding=sys.stdout.encoding,
                         errors="replace")
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return sys.stdout


def for_cli(*, quiet: bool = False, stream: Optional[TextIO] = None) -> Progress:
    """The reporter a command makes: enabled; bars on a terminal, plain lines with `--quiet` or in a log."""
    return Progress(enabled=True, quiet=quiet, stream=stream)


class _PlainCounter:
    """The no-terminal form of a bar: a "desc: i/n" line at most every plain_interval_s, one at the end."""

    def __init__(self, progress: Progress, *, total: Optional[int], desc: str):
        self.progress, self.total, self.desc = progress, total, desc
        self.done = 0
        self.started = self.last_line = time.perf_counter()

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        now = time.perf_counter()
        if now - self.last_line >= self.progress.plain_interval_s:
            self.last_line = now
            self.progress._write(f"{self.desc}: {self._count()} ({_format_seconds(now - self.started)})")

    def finish(self) -> None:
        if self.done:
            seconds = time.perf_counter() - self.started
            self.progress._write(f"{self.desc}: {self._count()} done in {_format_seconds(seconds)}")

    def _count(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else str(self.done)


def _ignore(steps: int = 1) -> None:
    """advance() of a disabled reporter."""


def _format_seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 600:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"
