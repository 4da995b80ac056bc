"""What tests inject into and read from the fake API server: failures, delays, the request log."""

import re
import threading
from dataclasses import dataclass, field
from typing import NamedTuple

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestRecord(NamedTuple):
    """One request the fake answered. A watch is logged once, when its stream starts."""

    method: str
    path: str
    query: dict[str, str]
    status: int

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    message: str


@dataclass
class Faults:
    """Planned failures and delays, consumed by matching requests. Thread-safe."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failures: list[_Failure] = field(default_factory=list)
    _delay: tuple[float, re.Pattern[str]] | None = None

    def fail_next(
        self, method: str, path_regex: str, status: int, times: int = 1, message: str = ""
    ) -> None:
        """The next ``times`` requests with ``method`` ("*" for any) and a path matching
        ``path_regex`` (``re.search``) get ``status`` instead of being served."""
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        failure = _Failure(
            method.upper(),
            re.compile(path_regex),
            status,
            times,
            message or f"injected failure {status} for {method} {path_regex}",
        )
        with self._lock:
            self._failures.append(failure)

    def take_failure(self, method: str, path: str) -> tuple[int, str] | None:
        """The status and message to answer this request with, if a planned failure matches."""
        with self._lock:
            for failure in self._failures:
                if failure.method in ("*", method) and failure.path.search(path):
                    failure.times -= 1
                    if failure.times == 0:
                        self._failures.remove(failure)
                    return failure.status, failure.message
        return None

    def set_delay(self, seconds: float, path_regex: str = "") -> None:
        """Hold every request whose path matches ``path_regex`` for ``seconds`` before serving
        it (0 turns the delay off)."""
        with self._lock:
            self._delay = (seconds, re.compile(path_regex)) if seconds > 0 else None

    def delay_for(self, path: str) -> float:
        with self._lock:
            if self._delay and self._delay[1].search(path):
                return self._delay[0]
        return 0.0


@dataclass
class RequestLog:
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _records: list[RequestRecord] = field(default_factory=list)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
