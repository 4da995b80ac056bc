"""The demo's child processes: each in its own process group, logged to a file, always stopped.

Every child gets a session of its own, so a Ctrl-C in the terminal reaches only the demo, which
then stops the children in order; and stopping a child stops its whole group (fio forks a
worker per job).
"""

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


class ProcessError(Exception):
    """A child process could not be started or did not stay up."""


class Processes:
    """Starts named children with their output in ``<log_dir>/<name>.log``; stops them all."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopped: set[int] = set()

    @property
    def pids(self) -> list[int]:
        """Every pid started so far, running or not (the test checks none survives)."""
        return [child.pid for _, child in self._children]

    def log_path(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        with self.log_path(name).open("ab") as output:
            try:
                child = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as error:
                raise ProcessError(f"cannot start {name} ({argv[0]}): {error}") from error
        self._children.append((name, child))
        log.debug("started %s as pid %d", name, child.pid)
        return child

    def check_alive(self, name: str, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is not None:
            tail = self.log_path(name).read_text(errors="replace")[-2000:]
            raise ProcessError(f"{name} exited with status {child.returncode}:\n{tail}")

    def stop(self, child: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """SIGTERM the child's group, then SIGKILL what is left after ``timeout`` seconds.

        Once only: after that the group is gone and its id may belong to someone else.
        """
        if child.pid in self._stopped:
            return
        self._stopped.add(child.pid)
        if child.poll() is None:
            _signal_group(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("pid %d ignored SIGTERM for %.0f s; killing it", child.pid, timeout)
        # The leader may be gone while workers of its group live on: kill the group regardless.
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()

    def stop_all(self) -> None:
        """Stop every child, the last started first."""
        for _, child in reversed(self._children):
            self.stop(child)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
