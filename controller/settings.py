"""Every setting of ``iops-controller``: one frozen object, read once at start-up.

Each field is an environment variable and a kebab-case flag of the same name (a flag beats the
variable; see :mod:`iops_limit.settings`). Commands that need Prometheus call
:meth:`ControllerSettings.require_prometheus`, so ``watch`` runs without it.
"""

import argparse
import logging
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from iops_limit.redact import mask_userinfo
from iops_limit.settings import (
    SettingsError,
    add_arguments,
    describe,
    duration_setting,
    from_args,
    parse_list,
    setting,
)

_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    """``Name=value,Other=value`` -> pairs; a name must be an HTTP token."""
    pairs = []
    for number, item in enumerate(parse_list(text), start=1):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not _HEADER_NAME.fullmatch(name):
            # Not the entry itself: a malformed one may be a credential ("Authorization: ...").
            raise ValueError(f"entry {number} is not Name=value with an HTTP token as the name")
        pairs.append((name, value.strip()))
    return tuple(pairs)


def parse_fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise ValueError("expected a fraction in (0, 1]")
    return value


def parse_positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("expected a positive integer")
    return value


def parse_port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port 0..65535")
    return value


def parse_regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as error:
        raise ValueError(f"not a regular expression: {error}") from None
    return text


def _show_headers(headers: tuple[tuple[str, str], ...]) -> str:
    # Header values are often tenant IDs or credentials; names are enough to debug with.
    return ",".join(f"{name}=***" for name, _ in headers)


def _show_urls(urls: tuple[str, ...]) -> str:
    return ",".join(mask_userinfo(url) for url in urls)


@dataclass(frozen=True)
class ControllerSettings:
    """The controller's settings; field docs are in each ``help`` and in the README table."""

    prometheus_url: str = setting(
        "", "Prometheus base URL, may carry a path prefix", show=mask_userinfo
    )
    prometheus_token_file: str = setting("", "file with a bearer token for Prometheus")
    prometheus_ca_file: str = setting("", "CA bundle to verify Prometheus' certificate")
    prometheus_skip_verify: bool = setting(False, "do not verify Prometheus' certificate")
    prometheus_headers: tuple[tuple[str, str], ...] = setting(
        (),
        "extra headers, Name=value,...",
        parse=parse_headers,
        secret=True,
        show=_show_headers,
    )
    prometheus_timeout: float = duration_setting("30s", "timeout of one Prometheus query")
    rules_path: str = setting("/etc/iops-limit/rules", "rule file or directory of rule files")
    interval: float = duration_setting("30s", "evaluation interval")
    rate_window: float = duration_setting("2m", "window of rate()")
    device_regex: str = setting(
        "/dev/nvme.+|nvme.+", "device label values that count", parse=parse_regex
    )
    dry_run: bool = setting(False, "decide and report, patch nothing")
    floor_iops: int = setting(50, "no limit below this", parse=parse_positive_int)
    max_new_limits_fraction: float = setting(
        0.2, "at most this fraction of selected pods newly limited per cycle", parse=parse_fraction
    )
    min_hold: float = duration_setting("5m", "minimum time between two changes of one limit")
    allow_exempt_namespaces: tuple[str, ...] = setting(
        (), "namespaces where iops-limit/exempt is honoured"
    )
    alertmanager_url: tuple[str, ...] = setting(
        (), "Alertmanager base URL(s), comma-separated", show=_show_urls
    )
    leader_elect: bool = setting(True, "Lease-based leader election (run only)")
    lease_name: str = setting("iops-controller", "name of the leader election Lease")
    lease_namespace: str = setting("", "namespace of the Lease (default: POD_NAMESPACE)")
    lease_duration: float = duration_setting("15s", "how long a Lease holds without renewal")
    lease_renew: float = duration_setting("5s", "how often the leader renews its Lease")
    identity: str = setting("", "this replica's name in the Lease (default: POD_NAME, hostname)")
    # deploy/controller.yaml sets both from the downward API.
    pod_name: str = setting(
        "", "this replica's pod (downward API); names it in the Lease and its Events"
    )
    pod_namespace: str = setting("", "this replica's namespace (downward API); the Lease's")
    metrics_address: str = setting("0.0.0.0", "address /metrics, /healthz, /readyz listen on")
    metrics_port: int = setting(
        8080, "port of /metrics, /healthz, /readyz; 0 = off", parse=parse_port
    )
    kubeconfig: str = setting("", "kubeconfig file (default: in-cluster, then KUBECONFIG)")
    kube_qps: float = setting(5.0, "Kubernetes API requests per second (token bucket)")
    kube_burst: int = setting(10, "Kubernetes API burst above kube-qps", parse=parse_positive_int)

    def require_prometheus(self) -> None:
        if not self.prometheus_url:
            raise SettingsError("PROMETHEUS_URL / --prometheus-url is required")

    def lease_holder(self) -> str:
        return self.identity or self.pod_name or f"{socket.gethostname()}-{os.getpid()}"

    def lease_namespace_or_default(self) -> str:
        return self.lease_namespace or self.pod_namespace or "default"


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser, ControllerSettings)


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ControllerSettings:
    """The settings for one command; KUBECONFIG is the kubeconfig variable Kubernetes users know."""
    settings = from_args(ControllerSettings, args, environ)
    if settings.kube_qps <= 0:
        raise SettingsError("invalid KUBE_QPS / --kube-qps: expected a positive number")
    if settings.lease_renew >= settings.lease_duration:
        raise SettingsError("LEASE_RENEW must be shorter than LEASE_DURATION")
    return settings


def log_settings(settings: ControllerSettings, log: logging.Logger) -> None:
    """The effective settings, once at start-up of every command that reads them; secrets
    and header values masked (:func:`iops_limit.settings.describe`)."""
    for name, value in describe(settings).items():
        log.info("setting %s=%s", name, value)
