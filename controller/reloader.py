"""Rule hot reload: poll the rule path for changes, swap in a good new rule set, keep the old
one when the new one is bad.

A ConfigMap mounted as a directory is updated by the kubelet swapping its ``..data`` symlink;
the files' own names never change. So the fingerprint is, per visible entry, the path it
resolves to plus its mtime and size: a swap changes the resolved paths even when a clock or a
copy kept the mtimes.
"""

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from controller.metrics import ControllerMetrics

log = logging.getLogger(__name__)

R = TypeVar("R")

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(path: str) -> Fingerprint:
    """Resolved path, mtime (ns) and size of the rule file, or of each visible directory entry."""
    root = Path(path)
    entries = (
        sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else [root]
    )
    out = []
    for entry in entries:
        try:
            stat = entry.stat()
        except OSError:
            continue  # a dangling link mid-swap; the next poll sees the finished swap
        out.append((os.path.realpath(entry), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


class RuleReloader(Generic[R]):
    """Holds the current rule set; :meth:`poll` reloads it when the files changed.

    ``load(path)`` returns a rule set or raises one of ``errors`` (problems in the files,
    logged as they are); the first load must succeed. After that any exception while loading
    rejects the new set: a bug or an odd file must not stop the service or drop the good set.
    """

    def __init__(
        self,
        path: str,
        load: Callable[[str], R],
        errors: tuple[type[Exception], ...],
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self._path = path
        self._load = load
        self._errors: tuple[type[Exception], ...] = (*errors, OSError)
        self._metrics = metrics
        # None after the path could not be read: whatever is there next is loaded afresh.
        self._seen: Fingerprint | None = fingerprint(path)
        self.rules: R = load(path)
        # Why the newest files were rejected, until a good set loads (the degraded alert).
        self.error: str | None = None

    def poll(self) -> bool:
        """Reload if the files changed; True when a new rule set is now in force."""
        try:
            seen = fingerprint(self._path)
        except OSError as error:
            if self._seen is not None:
                log.error(
                    "rules: cannot read %s: %s; keeping the current rule set", self._path, error
                )
                self._count("failure")
            # An unreadable rule path is as degraded as a rejected rule set: the files say one
            # thing, the controller runs another.
            self.error = f"cannot read {self._path}: {error.strerror or error}"
            self._seen = None
            return False
        if seen == self._seen:
            return False
        # Remember the attempt either way: a bad rule set is reported once, not every poll.
        self._seen = seen
        try:
            rules = self._load(self._path)
        except self._errors as error:
            self._reject(str(error))
            return False
        except Exception as error:
            # Not a problem in the files but in loading them: the traceback is for us.
            log.exception("rules: loading %s failed unexpectedly", self._path)
            self._reject(f"loading the rules failed unexpectedly: {type(error).__name__}: {error}")
            return False
        self.rules = rules
        self.error = None
        log.info("rules: loaded a new rule set from %s", self._path)
        self._count("success")
        return True

    def _reject(self, error: str) -> None:
        log.error(
            "rules: rejected the new rule set in %s, keeping the old one:\n%s", self._path, error
        )
        self._count("failure")
        self.error = error

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.rule_reloads.labels(result=result).inc()
