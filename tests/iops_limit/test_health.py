import urllib.error
import urllib.request
from collections.abc import Iterator

import prometheus_client
import pytest

from iops_limit.health import HealthServer


class Readiness:
    def __init__(self) -> None:
        self.state = (False, "prometheus unreachable")

    def __call__(self) -> tuple[bool, str]:
        return self.state


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Readiness, prometheus_client.Counter]]:
    registry = prometheus_client.CollectorRegistry()
    counter = prometheus_client.Counter("demo_cycles", "cycles run", registry=registry)
    readiness = Readiness()
    server = HealthServer(registry, readiness, port=0, host="127.0.0.1")
    server.start()
    yield server, readiness, counter
    server.stop()


def get(server: HealthServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_serves_the_registry_it_was_given(
    served: tuple[HealthServer, Readiness, prometheus_client.Counter],
) -> None:
    server, _, counter = served
    counter.inc(3)
    status, body = get(server, "/metrics")
    assert status == 200
    assert "demo_cycles_total 3.0" in body


def test_readyz_follows_the_readiness_callable_and_says_why(
    served: tuple[HealthServer, Readiness, prometheus_client.Counter],
) -> None:
    server, readiness, _ = served
    assert get(server, "/readyz") == (503, "prometheus unreachable\n")
    readiness.state = (True, "")
    assert get(server, "/readyz") == (200, "ok\n")


def test_healthz_answers_ok_and_unknown_paths_are_404(
    served: tuple[HealthServer, Readiness, prometheus_client.Counter],
) -> None:
    server, _, _ = served
    assert get(server, "/healthz") == (200, "ok\n")
    assert get(server, "/nothing")[0] == 404
