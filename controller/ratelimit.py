"""A client-side token bucket for Kubernetes API calls: QPS with a burst, like client-go's."""

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``burst`` calls go through at once, then ``qps`` per second; :meth:`acquire` waits.

    Thread-safe: the pod watch, the lease renewer and the cycle share one bucket per client.
    """

    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be positive and burst at least 1")
        self._qps = qps
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
            self._last = now
            self._tokens -= 1.0
            # A negative balance is a reservation: later callers queue behind this one.
            wait = -self._tokens / self._qps if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
