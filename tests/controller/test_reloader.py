import os
from pathlib import Path

import prometheus_client
import pytest

from controller.metrics import ControllerMetrics
from controller.reloader import RuleReloader


class BadRules(ValueError):
    pass


def load(path: str) -> tuple[str, ...]:
    """Stands in for the rule loader: the files' texts, refusing any that says 'bad'."""
    root = Path(path)
    files = (
        sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else [root]
    )
    texts = tuple(p.read_text() for p in files)
    if any("bad" in text for text in texts):
        raise BadRules(f"{path}:1: bad rule")
    return texts


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
    publish(tmp_path, "2026_01", "first")
    return tmp_path


def test_a_configmap_swap_of_the_data_link_is_picked_up(mount: Path) -> None:
    registry = prometheus_client.CollectorRegistry()
    reloader = RuleReloader(str(mount), load, (BadRules,), ControllerMetrics(registry))
    assert reloader.rules == ("first",)
    assert reloader.poll() is False
    publish(mount, "2026_02", "second")
    assert reloader.poll() is True
    assert reloader.rules == ("second",)
    assert reloads(registry, "success") == 1


def test_a_bad_new_rule_set_is_rejected_counted_and_the_old_one_stays(mount: Path) -> None:
    registry = prometheus_client.CollectorRegistry()
    reloader = RuleReloader(str(mount), load, (BadRules,), ControllerMetrics(registry))
    publish(mount, "2026_02", "bad")
    assert reloader.poll() is False
    assert reloader.rules == ("first",)
    assert reloads(registry, "failure") == 1
    assert reloader.poll() is False  # reported once, not at every poll
    assert reloads(registry, "failure") == 1
    publish(mount, "2026_03", "fixed")
    assert reloader.poll() is True
    assert reloader.rules == ("fixed",)


def test_a_plain_rule_file_edited_in_place_is_reloaded(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("one")
    reloader = RuleReloader(str(rules), load, (BadRules,))
    rules.write_text("two, longer")
    assert reloader.poll() is True
    assert reloader.rules == ("two, longer",)


def test_the_first_load_must_succeed(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("bad")
    with pytest.raises(BadRules, match="bad rule"):
        RuleReloader(str(tmp_path), load, (BadRules,))
