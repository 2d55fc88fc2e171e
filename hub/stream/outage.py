"""One warning per broker outage, not one per retry (issue 14, item 4).

While a broker is down the Kafka client (aiokafka) logs every failed attempt at ERROR:
two 20-second outages once wrote 26,579 "Unable connect" lines. The workers themselves
ride the outage out (the kernel aborts, backs off, rejoins and retries), so those lines
say nothing new after the first. An :class:`OutageLog` turns an episode of trouble into
two lines:

- the first problem (a client WARNING/ERROR, or a stage restart) is logged as ONE
  WARNING that says the workers keep retrying;
- later client warnings and errors and stage restarts of the same episode are counted,
  not logged;
- one INFO when it is over: a stage committed or joined its group again (or the
  cluster answered a metadata request) and no new trouble came for ``quiet_s`` seconds;
  it says how long the episode lasted and how many lines were held back.

Nothing is silenced forever: the next episode logs its first line again, and DEBUG
logging of the client still shows every attempt. :func:`install` puts the filter on the
root handlers (``mchub run`` does this).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: loggers whose WARNING/ERROR records are collapsed during an outage
CLIENT_LOGGERS = ("aiokafka", "kafka")


class OutageLog(logging.Filter):
    """Collapses Kafka client trouble into one WARNING per episode and one INFO at its end."""

    def __init__(
        self,
        *,
        quiet_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.quiet_s = quiet_s
        self.clock = clock
        self.started: float | None = None
        self.last_trouble = 0.0
        self.suppressed = 0
        self.episodes = 0

    @property
    def active(self) -> bool:
        """True while an episode of trouble is open."""
        return self.started is not None

    def trouble(self) -> bool:
        """Note a problem; True when it opens an episode (the caller logs it as a WARNING),
        False when it belongs to an open one (counted, the caller does not log it)."""
        now = self.clock()
        self.last_trouble = now
        if self.started is None:
            self.started = now
            self.suppressed = 0
            self.episodes += 1
            return True
        self.suppressed += 1
        return False

    def healthy(self) -> bool:
        """Note evidence that Kafka works (a commit, a join, a metadata answer); closes an
        open episode with one INFO line once ``quiet_s`` passed without new trouble.
        Returns True when it closed one."""
        if self.started is None:
            return False
        now = self.clock()
        if now - self.last_trouble < self.quiet_s:
            return False
        log.info(
            "Kafka works again: trouble lasted %.1f s; %d more client warnings/errors and "
            "stage restarts of it were not logged",
            self.last_trouble - self.started,
            self.suppressed,
        )
        self.started = None
        return True

    def quiet(self) -> bool:
        """An episode is open but nothing went wrong for ``quiet_s`` (time to check)."""
        return self.started is not None and self.clock() - self.last_trouble >= self.quiet_s

    # -- logging.Filter ----------------------------------------------------------
    def filter(self, record: logging.LogRecord) -> bool:
        """Pass everything except the Kafka client's repeated WARNING/ERROR records."""
        if record.levelno < logging.WARNING or not _from_client(record):
            return True
        if getattr(record, "_mchub_outage", False):
            return True  # already rewritten by this filter (several handlers)
        if not self.trouble():
            return False
        error = record.exc_info[1] if record.exc_info else None
        text = _one_line(error) if record.name == "asyncio" and error else record.getMessage()
        record.msg = (
            "Kafka trouble (%s); the workers keep retrying with backoff, further client "
            "errors are counted until it works again"
        )
        record.args = (text.splitlines()[0] if text else record.levelname,)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        record._mchub_outage = True
        return True


def _from_client(record: logging.LogRecord) -> bool:
    """A record of the Kafka client: its loggers, or asyncio reporting a client error
    nobody retrieved (aiokafka's sender fails futures of fenced producers that way, with a
    traceback per future)."""
    if record.name.startswith(CLIENT_LOGGERS):
        return True
    if record.name != "asyncio" or not record.exc_info:
        return False
    error = record.exc_info[1]
    return error is not None and type(error).__module__.startswith(CLIENT_LOGGERS)


def _one_line(error: BaseException) -> str:
    name = type(error).__name__
    text = str(error).splitlines()[0] if str(error) else ""
    return text if text.startswith(name) else f"{name}: {text}".rstrip(": ")


#: the process-wide instance: the kernel reports to it, :func:`install` filters with it
OUTAGES = OutageLog()


def install(outages: OutageLog = OUTAGES) -> None:
    """Filter the root logger's handlers (call after ``logging.basicConfig``)."""
    for handler in logging.getLogger().handlers:
        if outages not in handler.filters:
            handler.addFilter(outages)


__all__ = ["CLIENT_LOGGERS", "OUTAGES", "OutageLog", "install"]
