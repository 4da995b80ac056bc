import math

import pandas as pd

from controller.annotator import plan
from controller.ownership import Held, Owner, PodLimits, classify, record_annotations
from controller.pods import PodInfo
from iops_limit.annotations import ContainerLimits

NOW = 1_700_000_000.0
NAN = math.nan


def pod(name: str, annotations: dict[str, str] | None = None, namespace: str = "shop") -> PodInfo:
    return PodInfo(
        namespace, name, f"uid-{name}", "node-a", {}, annotations or {}, ("app",), "1", {}
    )


def decision(
    name: str, action: str, write_limit: float = NAN, namespace: str = "shop"
) -> dict[str, object]:
    return {
        "namespace": namespace,
        "pod": name,
        "container": "app",
        "node": "node-a",
        "action": action,
        "limit_read_iops": NAN,
        "limit_write_iops": write_limit,
        "limit_read_bps": NAN,
        "limit_write_bps": NAN,
        "group": "noisy",
        "rule": "writer",
        "severity": "warning",
        "summary": f"shop/{name} app wrote 1834 IOPS",
        "reason": "rule matched",
        "read_iops": 3.0,
        "write_iops": 1834.0,
        "total_iops": 1837.0,
        "read_bps": 0.0,
        "write_bps": 0.0,
    }


def owners_of(*pods: PodInfo, allow: tuple[str, ...] = ()) -> dict[tuple[str, str], PodLimits]:
    return {p.key: classify(p, allow) for p in pods if p.annotations}


def test_apply_writes_the_limit_and_bookkeeping_and_records_an_event_with_the_figures() -> None:
    web = pod("web")
    changes = plan(pd.DataFrame([decision("web", "apply", 500)]), {}, {web.key: web}, NOW)
    [change] = changes
    assert change.patch["iops-limit/write-iops.app"] == "500"
    assert change.patch["iops-limit/managed-by"] == "iops-controller"
    assert change.patch["iops-limit/rule"] == "noisy/writer"
    [event] = change.events
    assert event.reason == "IOPSLimitApplied"
    assert "write 500 IOPS" in event.message
    assert "noisy/writer" in event.message
    assert "write 1834 IOPS" in event.message
    assert not event.warning


def test_keep_on_a_limited_pod_plans_nothing() -> None:
    held = {"app": Held(ContainerLimits(write_iops=500), "noisy", "writer", NOW - 60, NOW - 60)}
    web = pod("web", record_annotations(held))
    decisions = pd.DataFrame([decision("web", "keep", 500), decision("quiet", "none")])
    assert plan(decisions, owners_of(web), {web.key: web}, NOW) == []


def test_update_keeps_since_and_moves_changed() -> None:
    held = {"app": Held(ContainerLimits(write_iops=500), "noisy", "writer", NOW - 600, NOW - 600)}
    web = pod("web", record_annotations(held))
    [change] = plan(
        pd.DataFrame([decision("web", "update", 200)]), owners_of(web), {web.key: web}, NOW
    )
    assert change.patch["iops-limit/write-iops.app"] == "200"
    assert "iops-limit/since" not in change.patch  # unchanged
    assert change.events[0].reason == "IOPSLimitUpdated"
    assert "write 500 IOPS -> write 200 IOPS" in change.events[0].message


def test_release_removes_the_controller_keys_and_records_an_event() -> None:
    held = {"app": Held(ContainerLimits(write_iops=500), "noisy", "writer", NOW - 600, NOW - 600)}
    web = pod("web", record_annotations(held))
    [change] = plan(pd.DataFrame([decision("web", "release")]), owners_of(web), {web.key: web}, NOW)
    assert change.patch["iops-limit/write-iops.app"] is None
    assert change.patch["iops-limit/managed-by"] is None
    assert change.events[0].reason == "IOPSLimitReleased"


def test_a_persons_pod_is_never_planned_even_if_the_engine_says_so() -> None:
    web = pod("web", {"iops-limit/write-iops": "300"})
    decisions = pd.DataFrame([decision("web", "update", 100)])
    assert owners_of(web)[web.key].owner is Owner.PERSON
    assert plan(decisions, owners_of(web), {web.key: web}, NOW) == []


def test_a_tampered_key_is_restored_with_a_warning_event_even_without_a_decision() -> None:
    held = {"app": Held(ContainerLimits(write_iops=500), "noisy", "writer", NOW - 600, NOW - 600)}
    web = pod("web", record_annotations(held) | {"iops-limit/write-iops.app": "5000"})
    [change] = plan(
        pd.DataFrame([decision("web", "keep", 500)]), owners_of(web), {web.key: web}, NOW
    )
    assert change.patch == {"iops-limit/write-iops.app": "500"}
    assert change.tampered == 1
    [event] = change.events
    assert (event.reason, event.warning) == ("IOPSLimitTampered", True)
    assert "'5000'" in event.message


def test_a_pod_made_exempt_in_an_allowed_namespace_is_released() -> None:
    held = {"app": Held(ContainerLimits(write_iops=500), "noisy", "writer", NOW - 600, NOW - 600)}
    web = pod("web", record_annotations(held) | {"iops-limit/exempt": "true"}, namespace="batch")
    owners = owners_of(web, allow=("batch",))
    [change] = plan(
        pd.DataFrame([decision("web", "none", namespace="batch")]), owners, {web.key: web}, NOW
    )
    assert change.patch["iops-limit/write-iops.app"] is None
    assert "exempt" in change.events[0].message
