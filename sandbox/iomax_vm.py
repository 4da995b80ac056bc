"""Run scripts/vm-cgroup-v2.sh and read its RESULT lines (host side of the cgroup v2 VM test).

The VM run proves the node writer's io.max code on a real kernel; see sandbox.iomax_vm_driver
for what happens inside. This module only starts the script and turns its output into values.
"""

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "vm-cgroup-v2.sh")
MISSING_PACKAGES = 3  # the script's exit status when qemu or busybox is not installed


class VmUnavailable(Exception):
    """This machine cannot boot the VM (a Debian package is missing); the message says which."""


class VmRunFailed(Exception):
    """The VM booted but the run did not finish; the message holds the script's diagnostics."""


@dataclass(frozen=True)
class DirectIO:
    """One dd run: ``ios`` 4 KiB direct IOs in ``seconds`` by dd's own clock."""

    ios: int
    seconds: float

    @property
    def iops(self) -> float:
        return self.ios / self.seconds


@dataclass(frozen=True)
class VmReport:
    results: Mapping[str, tuple[str, ...]]  # RESULT key -> its values, in the order printed
    wall_seconds: float  # the whole script: kernel fetch (when not cached) and the VM run

    def one(self, key: str) -> str:
        values = self.results.get(key, ())
        if len(values) != 1:
            raise VmRunFailed(f"expected one RESULT {key} line, got {len(values)}: {values}")
        return values[0]

    def all(self, key: str) -> tuple[str, ...]:
        return self.results.get(key, ())

    def direct_io(self, key: str) -> DirectIO:
        """``ios=400 seconds=3.910 iops=102.3`` -> DirectIO(400, 3.91)."""
        fields = dict(item.partition("=")[::2] for item in self.one(key).split())
        return DirectIO(int(fields["ios"]), float(fields["seconds"]))


def parse_results(output: str) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        marker, _, rest = line.partition(" ")
        if marker == "RESULT":
            key, _, value = rest.partition(" ")
            found.setdefault(key, []).append(value)
    return {key: tuple(values) for key, values in found.items()}


def run_vm(
    timeout: float = 600, python: str = sys.executable, env: Mapping[str, str] | None = None
) -> VmReport:
    """Boot the VM once; raise VmUnavailable or VmRunFailed when no complete report came back.

    ``env`` adds to this process's environment (e.g. IOPS_LIMITER_VM_CACHE, ACCEL).
    """
    started = time.monotonic()
    try:
        done = subprocess.run(
            [SCRIPT],
            cwd=ROOT,
            env={**os.environ, **(env or {}), "PYTHON": python},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise VmRunFailed(f"{SCRIPT} did not finish within {timeout:.0f} s") from None
    wall = time.monotonic() - started
    if done.returncode == MISSING_PACKAGES:
        raise VmUnavailable(done.stderr.strip())
    results = parse_results(done.stdout)
    if done.returncode != 0 or "end" not in results or "FAIL" in results:
        raise VmRunFailed(
            f"{SCRIPT} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}".rstrip()
        )
    return VmReport(results, wall)
