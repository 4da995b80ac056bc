"""The cycle's guards on the engine's decisions: fail static and hands off people's pods."""

import math

import pandas as pd

from controller.cycle import applied_frame, hold_steady
from controller.ownership import Held, classify, record_annotations
from controller.pods import PodInfo
from iops_limit.annotations import ContainerLimits

NAN = math.nan
HELD = {"app": Held(ContainerLimits(write_iops=500), "noisy", "writer", 1000.0, 1000.0)}


def pod(name: str, annotations: dict[str, str]) -> PodInfo:
    return PodInfo("shop", name, f"uid-{name}", "node-a", {}, annotations, ("app",), "1", {})


def row(name: str, action: str, limit: float = NAN) -> dict[str, object]:
    return {
        "namespace": "shop", "pod": name, "container": "app", "action": action,
        "limit_read_iops": NAN, "limit_write_iops": limit, "limit_read_bps": NAN,
        "limit_write_bps": NAN, "reason": "engine", "group": "noisy", "rule": "writer",
    }  # fmt: skip


def current(*names: str) -> pd.DataFrame:
    return pd.DataFrame({"namespace": "shop", "pod": list(names), "container": "app"})


def test_a_release_of_a_container_prometheus_has_no_data_for_is_held() -> None:
    limited = pod("writer", record_annotations(HELD))
    owners = {limited.key: classify(limited, ())}
    decisions = pd.DataFrame([row("writer", "release")])
    [out] = hold_steady(decisions, current(), owners).to_dict("records")
    assert out["action"] == "keep"
    assert out["limit_write_iops"] == 500.0
    assert "no data" in str(out["reason"])


def test_a_release_with_data_goes_through() -> None:
    limited = pod("writer", record_annotations(HELD))
    owners = {limited.key: classify(limited, ())}
    decisions = pd.DataFrame([row("writer", "release")])
    [out] = hold_steady(decisions, current("writer"), owners).to_dict("records")
    assert out["action"] == "release"


def test_no_decision_changes_a_persons_pod() -> None:
    manual = pod("manual", {"iops-limit/write-iops": "2000"})
    owners = {manual.key: classify(manual, ())}
    decisions = pd.DataFrame([row("manual", "update", 500.0)])
    [out] = hold_steady(decisions, current("manual"), owners).to_dict("records")
    assert out["action"] == "keep"
    assert out["limit_write_iops"] == 2000.0


def test_the_applied_frame_has_controller_and_person_limits_with_their_owners() -> None:
    limited = pod("writer", record_annotations(HELD))
    manual = pod("manual", {"iops-limit/read-iops": "700"})
    pods = {p.key: p for p in (limited, manual)}
    owners = {p.key: classify(p, ()) for p in (limited, manual)}
    frame = applied_frame(owners, pods).set_index("pod")
    assert frame.loc["writer", "limit_write_iops"] == 500.0
    assert (frame.loc["writer", "group"], frame.loc["writer", "rule"]) == ("noisy", "writer")
    assert frame.loc["manual", "limit_read_iops"] == 700.0
    assert (frame.loc["manual", "group"], frame.loc["manual", "rule"]) == ("", "")
    assert math.isnan(float(frame["limit_write_iops"]["manual"]))
