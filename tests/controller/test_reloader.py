import os
import shutil
import tempfile
from pathlib import Path

import prometheus_client
import pytest

from controller.metrics import ControllerMetrics
from controller.reloader import RuleReloader
from controller.rule_files import RuleFileError, load_rules
from controller.rule_model import RuleSet


def rules_text(threshold: int) -> str:
    return f"""groups:
  - name: noisy
    rules:
      - name: writer
        expr: write_iops > {threshold}
        limit: {{write_iops: 500}}
"""


BAD = """groups:
  - name: noisy
    rules:
      - name: writer
        expr: write_iops >
        limit: {write_iops: 500}
"""


def threshold(rules: RuleSet) -> str:
    return rules.groups[0].rules[0].expr.source


def publish(mount: Path, version: str, text: str) -> None:
    """Do what the kubelet does to a ConfigMap volume: new timestamped dir, swap ..data."""
    data = mount / f"..{version}"
    data.mkdir()
    (data / "rules.yaml").write_text(text)
    os.symlink(data.name, mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")
    if not (mount / "rules.yaml").is_symlink():
        os.symlink("..data/rules.yaml", mount / "rules.yaml")


def reloads(registry: prometheus_client.CollectorRegistry, result: str) -> float:
    value = registry.get_sample_value("iops_limit_rule_reloads_total", {"result": result})
    return value or 0.0


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    publish(tmp_path, "2026_01", rules_text(1000))
    return tmp_path


def test_a_configmap_swap_of_the_data_link_is_picked_up(mount: Path) -> None:
    registry = prometheus_client.CollectorRegistry()
    reloader = RuleReloader(str(mount), load_rules, (RuleFileError,), ControllerMetrics(registry))
    assert threshold(reloader.rules) == "write_iops > 1000"
    assert reloader.poll() is False
    publish(mount, "2026_02", rules_text(2000))
    assert reloader.poll() is True
    assert threshold(reloader.rules) == "write_iops > 2000"
    assert reloads(registry, "success") == 1


def test_a_bad_new_rule_set_is_rejected_counted_and_the_old_one_stays(mount: Path) -> None:
    registry = prometheus_client.CollectorRegistry()
    reloader = RuleReloader(str(mount), load_rules, (RuleFileError,), ControllerMetrics(registry))
    publish(mount, "2026_02", BAD)
    assert reloader.poll() is False
    assert threshold(reloader.rules) == "write_iops > 1000"
    assert reloads(registry, "failure") == 1
    assert reloader.poll() is False  # reported once, not at every poll
    assert reloads(registry, "failure") == 1
    publish(mount, "2026_03", rules_text(3000))
    assert reloader.poll() is True
    assert threshold(reloader.rules) == "write_iops > 3000"


def test_a_plain_rule_file_edited_in_place_is_reloaded(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text(1))
    reloader = RuleReloader(str(rules), load_rules, (RuleFileError,))
    rules.write_text(rules_text(22))
    assert reloader.poll() is True
    assert threshold(reloader.rules) == "write_iops > 22"


def test_the_first_load_must_succeed(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(BAD)
    with pytest.raises(RuleFileError, match=r"rules\.yaml:5"):
        RuleReloader(str(tmp_path), load_rules, (RuleFileError,))


def test_an_unexpected_failure_while_loading_rejects_the_new_set_and_keeps_the_old(
    mount: Path,
) -> None:
    registry = prometheus_client.CollectorRegistry()
    calls = []

    def load(path: str) -> RuleSet:
        calls.append(path)
        if len(calls) > 1:
            raise RecursionError("maximum recursion depth exceeded")
        return load_rules(path)

    reloader = RuleReloader(str(mount), load, (RuleFileError,), ControllerMetrics(registry))
    publish(mount, "2026_02", rules_text(2000))
    assert reloader.poll() is False
    assert threshold(reloader.rules) == "write_iops > 1000"
    assert reloads(registry, "failure") == 1
    assert reloader.error == (
        "loading the rules failed unexpectedly: RecursionError: maximum recursion depth exceeded"
    )


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to poll as another user")
def test_a_rule_directory_that_becomes_unreadable_is_an_error_until_it_is_readable_again() -> None:
    # The controller runs unprivileged; only a non-root process meets a permission error, so
    # each poll runs with the effective uid of nobody (the real uid stays root to switch back).
    directory = Path(tempfile.mkdtemp(prefix="iops-limiter-rules-"))
    directory.chmod(0o755)
    (directory / "rules.yaml").write_text(rules_text(1000))
    reloader = RuleReloader(str(directory), load_rules, (RuleFileError,))

    def poll_as_nobody() -> str | None:
        os.seteuid(NOBODY)
        try:
            reloader.poll()
        finally:
            os.seteuid(0)
        return reloader.error

    try:
        assert poll_as_nobody() is None
        directory.chmod(0o000)
        assert poll_as_nobody() == f"cannot read {directory}: Permission denied"
        directory.chmod(0o755)
        assert poll_as_nobody() is None
        assert threshold(reloader.rules) == "write_iops > 1000"
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory)
