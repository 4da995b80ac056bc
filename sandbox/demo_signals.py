"""The demo's stop signals: SIGTERM, SIGINT (Ctrl-C) and SIGHUP end it cleanly, once."""

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


class Interrupted(Exception):
    """SIGTERM or SIGINT: stop everything, cleanly."""


class StopSignals:
    """Turns SIGTERM, SIGINT and SIGHUP into `Interrupted`. Raising from the handler alone is
    not enough: a signal that lands while a finalizer runs (urllib3 closing a pooled socket)
    has its exception printed and dropped, so the signal is also kept and `check` raises it
    again from the demo's poll loop."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._holding = False

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._handle)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Signals wait while something that must be undone is made and registered for undoing:
        raised in between, they would leave a cgroup or a mount that nobody removes."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        self.check()

    def check(self) -> None:
        if self.received is not None:
            raise Interrupted(self.received)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # A second Ctrl-C must not cut the clean-up short: from here on, signals wait for it.
        for other in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(other, signal.SIG_IGN)
        self.received = signal.Signals(signum).name
        if not self._holding:
            raise Interrupted(self.received)
