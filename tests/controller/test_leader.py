"""Lease election against the fake API through the real client, on clocks the test moves."""

import pytest

from controller.kubeapi import KubeApi
from controller.leader import LeaderElector
from controller.ratelimit import TokenBucket
from sandbox.fake_kube import FakeKube


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(kube_api: FakeKube) -> KubeApi:
    return KubeApi(kube_api.api_client(), TokenBucket(100, 100))


def elector(api: KubeApi, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        api,
        namespace="iops-limit",
        name="iops-controller",
        identity=identity,
        lease_duration=10.0,
        renew_period=2.0,
        clock=clock,
    )


def test_the_first_replica_creates_the_lease_and_leads(api: KubeApi, kube_api: FakeKube) -> None:
    clock = Clock()
    a = elector(api, "a", clock)
    assert a.try_acquire_or_renew()
    assert kube_api.get_lease("iops-limit", "iops-controller")["spec"]["holderIdentity"] == "a"


def test_a_standby_takes_over_only_after_a_whole_unrenewed_lease_duration(api: KubeApi) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = elector(api, "a", clock_a), elector(api, "b", clock_b)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b first sees a's record at its t=100
    clock_b.now += 9.9
    assert not b.try_acquire_or_renew()
    clock_b.now += 0.2
    assert b.try_acquire_or_renew()  # a stopped renewing (it crashed): b takes over


def test_the_holder_stops_acting_before_a_standby_can_take_over(api: KubeApi) -> None:
    clock = Clock()
    a = elector(api, "a", clock)
    assert a.try_acquire_or_renew()
    clock.now += 7.9  # lease 10s, margin max(renew 2s, 20%) = 2s
    assert a.is_leader()
    clock.now += 0.2
    assert not a.is_leader()


def test_renewals_keep_the_standby_out(api: KubeApi) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = elector(api, "a", clock_a), elector(api, "b", clock_b)
    a.try_acquire_or_renew()
    for _ in range(10):
        clock_a.now += 2
        clock_b.now += 2
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()


def test_release_hands_the_lease_over_at_once(api: KubeApi, kube_api: FakeKube) -> None:
    a, b = elector(api, "a", Clock()), elector(api, "b", Clock())
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert not a.is_leader()
    assert b.try_acquire_or_renew()
    spec = kube_api.get_lease("iops-limit", "iops-controller")["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)


def test_a_refused_renewal_does_not_extend_leadership(api: KubeApi, kube_api: FakeKube) -> None:
    clock = Clock()
    a = elector(api, "a", clock)
    a.try_acquire_or_renew()
    clock.now += 6
    kube_api.fail_next("PUT", r"/leases/iops-controller$", 409)
    assert a.try_acquire_or_renew()  # still inside the window of its last renewal
    clock.now += 2.1
    assert not a.is_leader()
