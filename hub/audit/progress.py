"""A progress bar on stderr: done/total, rate and ETA (a line every few seconds when piped)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from hub.stream.reading import ReadProgress


class ProgressBar:
    """Call with a :class:`ReadProgress`; redraws at most every ``interval`` seconds."""

    def __init__(
        self, label: str, *, stream: TextIO | None = None, interval: float | None = None
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self.started = time.monotonic()
        self._last = 0.0
        self.offset = 0  # records done before this run (a resumed replay)

    def __call__(self, progress: ReadProgress) -> None:
        """Redraw when due (always at the end)."""
        now = time.monotonic()
        final = progress.done >= progress.total
        if not final and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(("\r" if self.tty else "") + self.line(progress, now))
        if not self.tty or final:
            self.stream.write("\n")
        self.stream.flush()

    def line(self, progress: ReadProgress, now: float) -> str:
        """``label [#####.....] 45% 450,000/1,000,000 52,310 ev/s ETA 10 s``."""
        elapsed = max(now - self.started, 1e-6)
        rate = progress.done / elapsed
        total = max(progress.total, 1)
        share = min(progress.done / total, 1.0)
        width = 30
        bar = "#" * int(share * width) + "." * (width - int(share * width))
        left = (progress.total - progress.done) / rate if rate > 0 else float("inf")
        eta = "–" if left == float("inf") else f"{left:,.0f} s"
        return (
            f"{self.label} [{bar}] {share:4.0%} {progress.done + self.offset:,}/"
            f"{progress.total + self.offset:,} {rate:,.0f} ev/s ETA {eta}"
        )
