"""check-rules and test-rules as a user runs them: output and exit status."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from controller.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TESTS = sorted(str(path) for path in (ROOT / "rules" / "tests").glob("*.yaml"))

GOOD = """\
groups:
  - name: g
    rules:
      - name: writer
        expr: write_iops > 1000
        for: 1m
        limit: {write_iops: 500}
"""


def test_example_rule_files_check_and_their_tests_pass_through_python_m_controller() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "controller", "check-rules", "rules/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "rules/noisy-neighbours.yaml: OK, 1 group, 3 rules" in checked.stdout
    assert "tests" not in checked.stdout  # rules/tests/ holds test files, not rules
    tested = subprocess.run(
        [sys.executable, "-m", "controller", "test-rules", *EXAMPLE_TESTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1].endswith("tests, 0 failed")
    assert len(EXAMPLE_TESTS) >= 4


def test_check_rules_prints_problems_to_stderr_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("for: 1m", "for: soon"))
    assert main(["check-rules", str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{good}: OK, 1 group, 1 rule\n"
    assert err == (
        f"{bad}:6: group 'g' rule 'writer': for: invalid duration 'soon': "
        "expected e.g. 30s, 5m, 1h30m\n"
    )


def test_check_rules_on_a_missing_path_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-rules", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml: cannot read file" in capsys.readouterr().err


def test_commands_without_arguments_are_usage_errors() -> None:
    for command in ("check-rules", "test-rules"):
        with pytest.raises(SystemExit) as exited:
            main([command])
        assert exited.value.code == 2


def write_test(tmp_path: Path, body: str) -> Path:
    (tmp_path / "rules.yaml").write_text(GOOD)
    path = tmp_path / "rules.test.yaml"
    path.write_text("rule_files: [rules.yaml]\nevaluation_interval: 30s\n" + textwrap.dedent(body))
    return path


def test_failed_expectation_prints_expected_and_got_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_test(
        tmp_path,
        """\
        tests:
          - name: writer limited after a minute
            containers:
              - container: a/p/c
                series: {write_iops: '2000x4'}
            expect:
              - at: 1m
                decisions:
                  - {container: a/p/c, action: apply, limits: {write_iops: 400}}
        """,
    )
    assert main(["test-rules", str(path)]) == 1
    out = capsys.readouterr().out
    assert out == (
        f"FAIL {path}:4 writer limited after a minute\n"
        "  at 1m, a/p/c (line 11):\n"
        "    expected: action=apply write_iops=400\n"
        "    got:      action=apply write_iops=500 rule=g/writer severity=warning "
        "reason='write_iops 2000 > 1000 for 1m (rule g/writer)'\n"
        "1 tests, 1 failed\n"
    )


def test_decisions_are_fed_back_so_hold_and_release_are_testable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_test(
        tmp_path,
        """\
        options: {min_hold: 3m}
        tests:
          - name: released only after the minimum hold
            containers:
              - container: a/p/c
                series: {write_iops: '2000x2 0x30'}
            expect:
              - at: 1m
                decisions:
                  - {container: a/p/c, action: apply}
              - at: 1m30s
                decisions:
                  - container: a/p/c
                    action: keep
                    reason: 'min hold 3m: last change 30s ago; would release'
              - at: 3m30s
                decisions:
                  - {container: a/p/c, action: keep}
              - at: 4m
                decisions:
                  - {container: a/p/c, action: release}
              - at: 4m30s
                decisions:
                  - {container: a/p/c, action: none}
        """,
    )
    (tmp_path / "rules.yaml").write_text(GOOD + "    release: {expr: write_iops < 100}\n")
    assert main(["test-rules", str(path)]) == 0, capsys.readouterr().out


def test_releases_are_fed_back_so_the_hold_after_a_release_is_testable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_test(
        tmp_path,
        """\
        options: {min_hold: 3m}
        tests:
          - name: limited again only 3m after the release
            containers:
              - container: a/p/c
                series: {write_iops: '2000x2 0x6 2000x10'}
            expect:
              - at: 4m
                decisions:
                  - {container: a/p/c, action: release}
              - at: 6m
                decisions:
                  - container: a/p/c
                    action: none
                    reason: 'min hold 3m: released 2m ago; would apply'
              - at: 7m
                decisions:
                  - {container: a/p/c, action: apply}
        """,
    )
    (tmp_path / "rules.yaml").write_text(GOOD + "    release: {expr: write_iops < 100}\n")
    assert main(["test-rules", str(path)]) == 0, capsys.readouterr().out


def test_malformed_test_file_reports_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_test(
        tmp_path,
        """\
        tests:
          - name: bad
            containers:
              - container: a/p
                series: {write_iops: '1x'}
            expect:
              - at: 45s
                decisions:
                  - {container: a/p/c, action: limit}
        """,
    )
    assert main(["test-rules", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:6: test 'bad': container: 'a/p' is not namespace/pod/container",
        f"{path}:7: test 'bad': series: write_iops: bad term '1x': "
        "expected a, a+bxn, a-bxn, axn, _ or _xn (e.g. '100+0x10')",
        f"{path}:9: test 'bad': at: 45s is not a multiple of the interval 30s",
        f"{path}:11: test 'bad': action: 'limit' is not one of apply, update, keep, release, none",
    ]


def test_rule_file_problems_surface_through_the_test_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_test(tmp_path, "tests: []\n")
    (tmp_path / "rules.yaml").write_text(GOOD.replace("> 1000", "> "))
    assert main(["test-rules", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}:1: rule_files: {tmp_path}/rules.yaml:5: group 'g' rule 'writer': expr: "
        "'write_iops >': invalid syntax at the end: invalid syntax\n"
    )
