import argparse
from dataclasses import dataclass

import pytest

from iops_limit.settings import (
    SettingsError,
    add_arguments,
    describe,
    duration_setting,
    from_args,
    setting,
)


@dataclass(frozen=True)
class Example:
    prometheus_url: str = setting("", "base URL", required=True)
    dry_run: bool = setting(False, "patch nothing")
    floor_iops: int = setting(50, "lowest limit")
    interval: float = duration_setting("30s", "evaluation interval")
    exclude_namespaces: tuple[str, ...] = setting(("kube-system",), "never touched")
    token: str = setting("", "a secret", secret=True)


def parse(argv: list[str], environ: dict[str, str]) -> Example:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example)
    return from_args(Example, parser.parse_args(argv), environ)


def test_a_flag_beats_the_environment_variable() -> None:
    settings = parse(["--floor-iops", "70"], {"PROMETHEUS_URL": "http://x", "FLOOR_IOPS": "60"})
    assert settings.floor_iops == 70


def test_environment_fills_what_flags_leave_out_and_defaults_the_rest() -> None:
    settings = parse([], {"PROMETHEUS_URL": "http://x", "DRY_RUN": "true", "INTERVAL": "1m"})
    assert (settings.dry_run, settings.interval, settings.floor_iops) == (True, 60.0, 50)
    assert settings.exclude_namespaces == ("kube-system",)


def test_a_missing_required_setting_names_variable_and_flag() -> None:
    with pytest.raises(SettingsError, match=r"PROMETHEUS_URL / --prometheus-url is required"):
        parse([], {})


def test_an_invalid_value_names_variable_flag_and_value() -> None:
    with pytest.raises(SettingsError, match=r"invalid INTERVAL / --interval '5 minutes'"):
        parse([], {"PROMETHEUS_URL": "http://x", "INTERVAL": "5 minutes"})


def test_an_absurd_duration_is_an_invalid_value_not_an_overflow() -> None:
    with pytest.raises(SettingsError, match=r"invalid INTERVAL / --interval '9+d'.*100 years"):
        parse([], {"PROMETHEUS_URL": "http://x", "INTERVAL": "9" * 400 + "d"})


def test_describe_masks_secrets_and_shows_durations_as_written() -> None:
    settings = parse(["--token", "hunter2"], {"PROMETHEUS_URL": "http://x"})
    shown = describe(settings)
    assert shown["TOKEN"] == "***"
    assert "hunter2" not in str(shown)
    assert shown["INTERVAL"] == "30s"
    assert shown["EXCLUDE_NAMESPACES"] == "kube-system"


def test_a_bare_boolean_flag_means_true_and_still_takes_a_value() -> None:
    assert parse(["--dry-run"], {"PROMETHEUS_URL": "http://x"}).dry_run is True
    assert (
        parse(["--dry-run", "false"], {"PROMETHEUS_URL": "http://x", "DRY_RUN": "true"}).dry_run
        is False
    )
