"""The sandbox demo, run as a user runs it and checked from the outside.

Each test runs ``python -m sandbox.demo --short`` as a subprocess (about a minute) and then looks
only at what it left: ``measurements.json`` (figures from the containers' own cgroup counters),
the chart, the report, the process table, the cgroup hierarchy and the mount table.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.rule_files import load_rules
from sandbox.demo_cgroups import real_cgroups_unavailable
from tests.sandbox.cgroup_sampling import CgroupSampler, iops_before_and_under

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WHY_NO_CGROUPS = real_cgroups_unavailable()


@dataclass
class DemoRun:
    out: Path
    process: subprocess.Popen[str]
    sampler: CgroupSampler | None = None

    def result(self) -> tuple[str, dict[str, Any]]:
        """Wait for the demo to end; its output and measurements.json (the exit status is
        checked last by the tests: a failed report still leaves figures worth checking)."""
        try:
            stdout, _ = self.process.communicate(timeout=400)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.sampler is not None:
                self.sampler.stop()
        path = self.out / "measurements.json"
        assert path.exists(), f"demo failed ({self.process.returncode}):\n{stdout[-6000:]}"
        measurements: dict[str, Any] = json.loads(path.read_text())
        return stdout, measurements


def _start_demo(out: Path, *extra: str) -> DemoRun:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.demo", "--short", "--out", str(out), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return DemoRun(out, process)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DemoRun]]:
    """The real and the simulated demo, started together: each takes about a minute, mostly
    waiting on the demo rule's windows, and together they fit the machine."""
    runs = {"simulated": _start_demo(tmp_path_factory.mktemp("simulated"), "--simulate")}
    if WHY_NO_CGROUPS is None:
        real = _start_demo(tmp_path_factory.mktemp("real"))
        real.sampler = CgroupSampler(real.out)
        real.sampler.start()
        runs["real"] = real
    try:
        yield runs
    finally:
        for run in runs.values():
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()
            if run.sampler is not None and run.sampler.is_alive():
                run.sampler.stop()


def _demo_rule() -> tuple[str, int]:
    """The demo rule's name and its write IOPS limit, from rules/demo.yaml itself."""
    (rule,) = load_rules(ROOT / "rules" / "demo.yaml").rules()
    (limit,) = (limit.number for limit in rule.limits if limit.direction == "write_iops")
    assert limit is not None, "the demo rule's write limit is an expression, not a number"
    return rule.qualified_name, limit


def _check_the_story(stdout: str, measurements: dict[str, Any]) -> None:
    noisy = measurements["noisy"]
    limit = noisy["limit_iops"]
    assert limit is not None, f"the noisy container was never limited:\n{stdout[-3000:]}"
    rule_name, rule_limit = _demo_rule()
    assert limit == rule_limit
    under = noisy["write_iops_under_limit"]
    assert under is not None, "no stretch of throttled load was measured"
    assert 0.85 * limit <= under <= 1.05 * limit, f"{under:.0f} IOPS under a {limit} limit"
    assert noisy["write_iops_before_limit"] > 1.5 * limit
    assert noisy["seconds_from_load_stop_to_release"] is not None, "never released"
    for name, container in measurements["containers"].items():
        if name != noisy["container"]:
            assert container["limits_seen"] == [], f"quiet {name} was limited"
            assert container["annotated_at"] is None, f"quiet {name} was annotated"
    assert Path(measurements["chart"]).read_bytes()[:8] == PNG_MAGIC
    report = Path(measurements["report"]).read_text()
    assert measurements["report_ok"], report
    assert rule_name in report and "batch-import" in report, report
    for state in ("detected", "annotated", "throttled", "released"):
        assert state in stdout
    webhook = Path(measurements["webhook"])
    assert f"webhook:      {webhook}" in stdout
    delivered = json.loads(webhook.read_text())
    statuses = {
        alert["status"]
        for payload in delivered
        for alert in payload["alerts"]
        if alert["labels"].get("pod") == "batch-import"
    }
    assert statuses == {"firing", "resolved"}, json.dumps(delivered)[:2000]


def _processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line or environment names ``text`` (our out directory)."""
    found = []
    for pid in (name for name in os.listdir("/proc") if name.isdigit()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            blob = (
                Path(f"/proc/{pid}/cmdline").read_bytes()
                + Path(f"/proc/{pid}/environ").read_bytes()
            )
        except OSError:
            continue
        if stat.rpartition(")")[2].split()[0] != "Z" and text.encode() in blob:
            found.append(f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes()[:200]!r}")
    return found


def _check_nothing_left(out: Path, pids: list[int], cgroup_top: str | None) -> None:
    deadline = time.monotonic() + 15
    while _processes_mentioning(str(out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(out)) == []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue
        assert stat.rpartition(")")[2].split()[0] == "Z", f"child {pid} still running"
    if cgroup_top is not None:
        assert not Path(cgroup_top).exists()
    assert str(out) not in Path("/proc/self/mountinfo").read_text()
    assert not list(out.glob(".work-*")), "scratch directory left behind"


@pytest.mark.kernel
@pytest.mark.skipif(
    WHY_NO_CGROUPS is not None, reason=f"real blkio cgroups unavailable: {WHY_NO_CGROUPS}"
)
def test_real_demo_throttles_the_noisy_container_to_its_limit_and_leaves_nothing(
    demo_runs: dict[str, DemoRun],
) -> None:
    run = demo_runs["real"]
    stdout, measurements = run.result()
    assert measurements["mode"] == "real"
    _check_the_story(stdout, measurements)
    # The test's own figures, from the noisy container's cgroup counters sampled from outside.
    assert run.sampler is not None
    samples, device, limit = run.sampler.limited()
    assert limit == _demo_rule()[1]
    before, under = iops_before_and_under(samples, device, limit)
    print(
        f"sampled write IOPS of the limited cgroup: {before:.0f} before, {under:.0f} under {limit}"
    )
    assert 0.85 * limit <= under <= 1.05 * limit, f"{under:.0f} IOPS under a {limit} limit"
    assert before > 1.5 * limit, f"{before:.0f} IOPS before a {limit} limit"
    # The demo's printed figure tells the same story as the kernel's counters.
    assert abs(measurements["noisy"]["write_iops_under_limit"] - under) <= 0.1 * limit
    _check_nothing_left(run.out, measurements["pids"], measurements["cgroup_top"])
    assert run.process.returncode == 0, stdout[-3000:]


def test_simulated_demo_runs_the_same_flow_labelled_simulated(
    demo_runs: dict[str, DemoRun],
) -> None:
    run = demo_runs["simulated"]
    stdout, measurements = run.result()
    assert measurements["mode"] == "simulated"
    assert "SIMULATED" in stdout
    assert "SIMULATED" in Path(measurements["report"]).read_text()
    _check_the_story(stdout, measurements)
    _check_nothing_left(run.out, measurements["pids"], measurements["cgroup_top"])
    assert run.process.returncode == 0, stdout[-3000:]


def _descendants(pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live descendant of ``pid``, children in their own sessions
    included (the start time tells a reused pid apart)."""
    parents: dict[int, int] = {}
    started: dict[int, str] = {}
    for name in (entry for entry in os.listdir("/proc") if entry.isdigit()):
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(name)] = int(fields[1])
        started[int(name)] = fields[19]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {(child, started[child]) for child in found}


def _alive(process: tuple[int, str]) -> bool:
    pid, started = process
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] != "Z"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_mid_run_ends_every_process_and_removes_its_cgroup_even_when_repeated(
    tmp_path: Path, signum: signal.Signals
) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "sandbox.demo", "--short", "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cgroup_top: str | None = None
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # the load runs: every part is up and fio is writing
            found = re.search(r"real cgroup v\d under (\S+),", line)
            cgroup_top = found.group(1) if found else cgroup_top
            if "load started" in line:
                break
        else:
            pytest.fail(f"demo ended before its load started (exit {demo.wait()})")
        started = _descendants(demo.pid)
        assert started, "the demo runs no child processes"
        if WHY_NO_CGROUPS is None:
            assert cgroup_top is not None and Path(cgroup_top).is_dir()
        demo.send_signal(signum)
        demo.send_signal(signum)  # an impatient second Ctrl-C: the clean-up still completes
        rest = demo.stdout.read()
        assert demo.wait(timeout=120) == 130, rest
    finally:
        if demo.poll() is None:
            demo.kill()
    assert "interrupted" in rest
    assert [process for process in started if _alive(process)] == []
    _check_nothing_left(tmp_path, [], cgroup_top)


def test_a_bad_rule_file_stops_the_demo_before_anything_starts(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        "groups:\n  - name: demo\n    rules:\n      - name: x\n        expr: 'write_iops >'\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "sandbox.demo", "--rules", str(rules), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"{rules}:5:" in done.stderr
    assert not list(tmp_path.glob(".work-*")) and _processes_mentioning(str(tmp_path)) == []
