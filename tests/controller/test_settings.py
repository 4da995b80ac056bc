import argparse
import os

import pytest

from controller.settings import ControllerSettings, add_settings_arguments, settings_from
from iops_limit.settings import SettingsError, describe


def parse(argv: list[str], environ: dict[str, str]) -> ControllerSettings:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return settings_from(parser.parse_args(argv), environ)


def test_defaults_follow_the_design_table() -> None:
    settings = parse([], {})
    assert settings.interval == 30
    assert settings.rate_window == 120
    assert settings.min_hold == 300
    assert settings.floor_iops == 50
    assert settings.max_new_limits_fraction == 0.2
    assert settings.dry_run is False
    assert settings.leader_elect is True
    assert settings.metrics_port == 8080
    assert settings.rules_path == "/etc/iops-limit/rules"
    assert settings.device_regex == "/dev/nvme.+|nvme.+"


def test_kubeconfig_comes_from_the_variable_kubernetes_users_know() -> None:
    assert parse([], {"KUBECONFIG": "/tmp/kc"}).kubeconfig == "/tmp/kc"
    assert parse(["--kubeconfig", "/tmp/flag"], {"KUBECONFIG": "/tmp/kc"}).kubeconfig == "/tmp/flag"


def test_prometheus_headers_are_parsed_and_their_values_masked_in_the_log() -> None:
    settings = parse(
        ["--prometheus-headers", "X-Scope-OrgID=team-a, Authorization=Bearer s3cret"], {}
    )
    assert settings.prometheus_headers == (
        ("X-Scope-OrgID", "team-a"),
        ("Authorization", "Bearer s3cret"),
    )
    shown = describe(settings)
    assert shown["PROMETHEUS_HEADERS"] == "X-Scope-OrgID=***,Authorization=***"
    assert "s3cret" not in str(shown)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PROMETHEUS_HEADERS": "no-equals-sign"}, "PROMETHEUS_HEADERS / --prometheus-headers"),
        ({"MAX_NEW_LIMITS_FRACTION": "1.5"}, "MAX_NEW_LIMITS_FRACTION"),
        ({"DEVICE_REGEX": "nvme("}, "DEVICE_REGEX / --device-regex 'nvme\\('"),
        ({"METRICS_PORT": "70000"}, "METRICS_PORT"),
        ({"KUBE_QPS": "0"}, "KUBE_QPS"),
        ({"LEASE_RENEW": "20s", "LEASE_DURATION": "15s"}, "LEASE_RENEW"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse([], environ)


def test_prometheus_url_is_required_only_where_asked_for() -> None:
    settings = parse([], {})
    with pytest.raises(SettingsError, match="PROMETHEUS_URL / --prometheus-url is required"):
        settings.require_prometheus()
    parse([], {"PROMETHEUS_URL": "http://127.0.0.1:9090/prefix"}).require_prometheus()


def test_pod_name_and_namespace_name_the_lease_from_flags_or_the_environment() -> None:
    settings = parse([], {"POD_NAME": "iops-controller-7d9f-abcde", "POD_NAMESPACE": "iops-limit"})
    assert settings.lease_holder() == "iops-controller-7d9f-abcde"
    assert settings.lease_namespace_or_default() == "iops-limit"
    flagged = parse(["--pod-name", "from-flag", "--pod-namespace", "ns-flag"], {"POD_NAME": "env"})
    assert flagged.lease_holder() == "from-flag"
    assert flagged.lease_namespace_or_default() == "ns-flag"
    explicit = parse(["--identity", "me", "--lease-namespace", "leases"], {"POD_NAME": "env"})
    assert (explicit.lease_holder(), explicit.lease_namespace_or_default()) == ("me", "leases")


def test_the_lease_identity_reads_only_the_settings_object_never_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Settings are read once from the mapping given; a variable set later, or only in this
    # process' environment, must not change who holds the Lease.
    monkeypatch.setenv("POD_NAME", "from-os-environ")
    monkeypatch.setenv("POD_NAMESPACE", "from-os-environ")
    settings = parse([], {})
    assert settings.lease_holder() != "from-os-environ"
    assert settings.lease_holder().endswith(f"-{os.getpid()}")
    assert settings.lease_namespace_or_default() == "default"
    assert describe(parse([], {"POD_NAME": "p", "POD_NAMESPACE": "n"}))["POD_NAME"] == "p"
