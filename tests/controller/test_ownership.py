import json

from controller.ownership import (
    STATE,
    Held,
    Owner,
    classify,
    merge_patch,
    record_annotations,
    tampered,
)
from controller.pods import PodInfo
from iops_limit.annotations import ContainerLimits


def pod(
    annotations: dict[str, str],
    namespace: str = "shop",
    containers: tuple[str, ...] = ("app", "sidecar"),
) -> PodInfo:
    return PodInfo(namespace, "web-0", "uid-1", "node-a", {}, annotations, containers, "7", {})


HELD = {
    "app": Held(
        ContainerLimits(write_iops=500),
        "noisy",
        "writer",
        1700000000.0,
        1700000100.0,
        "wrote a lot",
    )
}


def test_the_record_round_trips_through_the_annotations() -> None:
    annotations = record_annotations(HELD)
    limits = classify(pod(annotations), allow_exempt_namespaces=())
    assert limits.owner is Owner.CONTROLLER
    assert limits.held == HELD
    assert not limits.problem


def test_the_controller_writes_the_contract_keys_per_container() -> None:
    annotations = record_annotations(HELD)
    assert annotations["iops-limit/managed-by"] == "iops-controller"
    assert annotations["iops-limit/write-iops.app"] == "500"
    assert annotations["iops-limit/rule"] == "noisy/writer"
    assert annotations["iops-limit/since"] == "2023-11-14T22:13:20Z"
    assert annotations["iops-limit/reason"] == "wrote a lot"
    assert "iops-limit/read-iops.app" not in annotations
    assert json.loads(annotations[STATE])["app"]["write_iops"] == 500


def test_limit_keys_without_managed_by_belong_to_a_person() -> None:
    limits = classify(pod({"iops-limit/write-iops": "300"}), allow_exempt_namespaces=())
    assert limits.owner is Owner.PERSON
    assert limits.held["app"].limits == ContainerLimits(write_iops=300)
    assert (limits.held["app"].group, limits.held["app"].rule) == ("", "")


def test_a_person_pod_with_an_invalid_value_is_kept_away_from_and_says_why() -> None:
    limits = classify(pod({"iops-limit/write-iops": "-5"}), allow_exempt_namespaces=())
    assert limits.owner is Owner.PERSON
    assert "iops-limit/write-iops" in limits.problem


def test_exempt_is_honoured_only_in_allowed_namespaces() -> None:
    annotations = {"iops-limit/exempt": "true"}
    assert classify(pod(annotations, "batch"), ("batch",)).owner is Owner.EXEMPT
    assert classify(pod(annotations, "shop"), ("batch",)).owner is Owner.FREE


def test_a_steady_pod_needs_no_patch() -> None:
    assert merge_patch(pod(record_annotations(HELD)), HELD, HELD) == {}


def test_a_changed_limit_key_is_reported_and_the_patch_restores_it() -> None:
    annotations = record_annotations(HELD) | {"iops-limit/write-iops.app": "99999"}
    seen = pod(annotations)
    assert tampered(seen, HELD) == {"iops-limit/write-iops.app": ("99999", "500")}
    assert merge_patch(seen, HELD, HELD) == {"iops-limit/write-iops.app": "500"}


def test_a_deleted_bookkeeping_key_is_put_back() -> None:
    annotations = record_annotations(HELD)
    del annotations["iops-limit/rule"]
    assert tampered(pod(annotations), HELD) == {"iops-limit/rule": (None, "noisy/writer")}


def test_a_controller_key_someone_added_for_a_direction_it_does_not_limit_is_removed() -> None:
    annotations = record_annotations(HELD) | {"iops-limit/read-iops.app": "10"}
    assert merge_patch(pod(annotations), HELD, HELD) == {"iops-limit/read-iops.app": None}


def test_release_removes_every_controller_key_and_keeps_a_persons_keys() -> None:
    annotations = record_annotations(HELD) | {"iops-limit/read-bps": "1000000"}
    patch = merge_patch(pod(annotations), HELD, {})
    assert patch == {
        "iops-limit/managed-by": None,
        STATE: None,
        "iops-limit/rule": None,
        "iops-limit/since": None,
        "iops-limit/reason": None,
        "iops-limit/write-iops.app": None,
    }


def test_an_unreadable_record_is_rebuilt_from_the_limit_keys_and_flagged() -> None:
    annotations = record_annotations(HELD) | {STATE: "{not json"}
    limits = classify(pod(annotations), allow_exempt_namespaces=())
    assert limits.owner is Owner.CONTROLLER
    assert limits.held["app"].limits == ContainerLimits(write_iops=500)
    assert (limits.held["app"].group, limits.held["app"].rule) == ("noisy", "writer")
    assert "unreadable" in limits.problem
