"""Building the rate frames from Prometheus answers, on hand-made answers."""

import pytest

from controller.rate_frames import (
    CURRENT_COLUMNS,
    HISTORY_COLUMNS,
    METRICS,
    build_current,
    build_history,
    series_key,
)

UID = "0a1b2c3d-0000-4000-8000-00000000abcd"
CID = "f" * 64


def kubelet(pod: str) -> dict[str, str]:
    return {"namespace": "shop", "pod": pod, "container": "app"}


def test_current_joins_the_metrics_per_container_and_reads_zero_where_one_is_missing() -> None:
    frame = build_current(
        {
            "read_iops": [{"metric": kubelet("a"), "value": [100.0, "5"]}],
            "write_iops": [
                {"metric": kubelet("b"), "value": [100.0, "7.5"]},
                {"metric": kubelet("a"), "value": [100.0, "20"]},
            ],
            "read_bps": [],
            "write_bps": [{"metric": kubelet("a"), "value": [100.0, "NaN"]}],
        }
    )
    assert list(frame.columns) == CURRENT_COLUMNS
    rows = frame.set_index("pod")
    assert rows.loc["a", "read_iops"] == 5.0 and rows.loc["a", "write_iops"] == 20.0
    assert rows.loc["a", "total_iops"] == 25.0
    assert rows["write_bps"].isna().tolist() == [True, False]
    assert rows.loc["b", "read_iops"] == 0.0 and rows.loc["b", "total_iops"] == 7.5
    assert list(frame["node"]) == ["", ""] and list(frame["uid"]) == ["", ""]


def test_history_has_a_row_per_container_per_step_where_any_metric_had_a_value() -> None:
    frame = build_history(
        {
            "read_iops": [{"metric": kubelet("a"), "values": [[30.0, "1"], [60.0, "2"]]}],
            "write_iops": [
                {"metric": kubelet("a"), "values": [[60.0, "10"], [90.0, "11"]]},
                {"metric": kubelet("b"), "values": [[90.0, "3"]]},
            ],
            "read_bps": [],
            "write_bps": [],
        }
    )
    assert list(frame.columns) == HISTORY_COLUMNS
    columns = ["time", "pod", "read_iops", "write_iops"]
    rows = list(frame[columns].itertuples(index=False, name=None))
    assert rows == [
        (30.0, "a", 1.0, 0.0),
        (60.0, "a", 2.0, 10.0),
        (90.0, "a", 0.0, 11.0),
        (90.0, "b", 0.0, 3.0),
    ]


@pytest.mark.parametrize(
    "cgroup",
    [
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}"
        f".slice/cri-containerd-{CID}.scope",
        f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/crio-{CID}.scope",
        f"/kubepods/besteffort/pod{UID}/{CID}",
        f"/kubepods/pod{UID}/{CID}",
    ],
)
def test_standalone_cgroup_paths_give_pod_uid_and_container_id(cgroup: str) -> None:
    assert series_key({"id": cgroup, "name": CID}) == ("", "", "", UID, CID)


@pytest.mark.parametrize(
    "cgroup",
    [
        "/",
        "/system.slice/containerd.service",
        f"/kubepods/burstable/pod{UID}",  # the pod itself, not a container
        f"/kubepods/burstable/pod{UID}/../../etc/{CID}",
        f"/kubepods/burstable/podnot-a-uid/{CID}",
    ],
)
def test_other_cgroups_are_not_containers(cgroup: str) -> None:
    assert series_key({"id": cgroup, "name": "x"}) is None


def test_empty_answers_give_typed_empty_frames() -> None:
    empty: dict[str, list[dict[str, object]]] = {c: [] for c in METRICS}
    current, history = build_current(empty), build_history(empty)
    assert current.empty and list(current.columns) == CURRENT_COLUMNS
    assert history.empty and list(history.columns) == HISTORY_COLUMNS
    assert current["write_iops"].dtype == float and history["time"].dtype == float
