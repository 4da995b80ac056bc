"""Builds the controller's parts from its settings; the commands share it."""

from collections.abc import Callable
from typing import Any

import prometheus_client

from controller import engine
from controller.annotator import Annotator
from controller.cycle import Cycle, CycleConfig, CycleResult
from controller.kubeapi import COMPONENT, KubeApi
from controller.metrics import ControllerMetrics
from controller.pods import PodCache
from controller.prometheus import PrometheusError, PrometheusSource
from controller.ratelimit import TokenBucket
from controller.settings import ControllerSettings
from iops_limit.kube import load_api_client


def kube_api(settings: ControllerSettings, metrics: ControllerMetrics | None = None) -> KubeApi:
    """The API wrapper; with ``metrics``, every failed call is counted by operation."""
    client = load_api_client(settings.kubeconfig or None)
    bucket = TokenBucket(settings.kube_qps, settings.kube_burst)
    instance = settings.pod_name or COMPONENT
    if metrics is None:
        return KubeApi(client, bucket, instance=instance)
    errors = metrics.api_errors
    return KubeApi(
        client, bucket, on_error=lambda operation: errors.labels(operation).inc(), instance=instance
    )


def prometheus_source(settings: ControllerSettings) -> PrometheusSource:
    return PrometheusSource(
        settings.prometheus_url,
        token_file=settings.prometheus_token_file or None,
        ca_file=settings.prometheus_ca_file or None,
        skip_verify=settings.prometheus_skip_verify,
        headers=settings.prometheus_headers,
        rate_window=settings.rate_window,
        device_regex=settings.device_regex,
        timeout=settings.prometheus_timeout,
    )


def engine_options(settings: ControllerSettings) -> engine.EngineOptions:
    return engine.EngineOptions(
        floor_iops=settings.floor_iops,
        min_hold=settings.min_hold,
        max_new_limits_fraction=settings.max_new_limits_fraction,
        interval=settings.interval,
    )


def build_cycle(
    settings: ControllerSettings,
    *,
    api: KubeApi,
    cache: PodCache,
    source: PrometheusSource,
    rules: Callable[[], Any],
    registry: prometheus_client.CollectorRegistry | None = None,
    metrics: ControllerMetrics | None = None,
    may_act: Callable[[], bool] = lambda: True,
    on_cycle: Callable[[CycleResult], None] | None = None,
) -> Cycle:
    metrics = metrics or ControllerMetrics(registry or prometheus_client.CollectorRegistry())
    config = CycleConfig(
        interval=settings.interval,
        dry_run=settings.dry_run,
        allow_exempt_namespaces=settings.allow_exempt_namespaces,
        prometheus_errors=(PrometheusError,),
    )
    return Cycle(
        config=config,
        source=source,
        pods=cache,
        annotator=Annotator(api, cache, metrics, may_act),
        rules=rules,
        evaluate=engine.evaluate,
        options=engine_options(settings),
        metrics=metrics,
        may_act=may_act,
        on_cycle=on_cycle,
        gauge=source,
    )
