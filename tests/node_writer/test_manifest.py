"""deploy/node-writer.yaml: least privilege, the node name from the downward API, settings known."""

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from node_writer.settings import NodeWriterSettings

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "node-writer.yaml"


def documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text())}


def test_cluster_role_grants_only_pod_reads_and_event_writes() -> None:
    rules = documents()["ClusterRole"]["rules"]
    granted = {
        (resource, verb)
        for rule in rules
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    # Exactly the calls node_writer/api.py makes: list and watch pods, POST Events.
    assert granted == {("pods", "list"), ("pods", "watch"), ("events", "create")}


def test_daemonset_container_is_locked_down_and_knows_its_node() -> None:
    spec = documents()["DaemonSet"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["privileged"] is False
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
    env = {item["name"]: item for item in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    known = {field.name.upper() for field in dataclasses.fields(NodeWriterSettings)}
    assert set(env) <= known
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert env["CGROUP_ROOT"]["value"] in mounts
    assert mounts[env["DATA_MOUNT"]["value"]]["readOnly"] is True


def test_data_mount_sees_a_disk_mounted_on_the_host_after_the_pod_started() -> None:
    # Without propagation the container keeps the empty directory under the host's /data (on
    # the root disk) and would resolve and throttle the root disk instead of the data disk.
    (container,) = documents()["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[env["DATA_MOUNT"]["value"]]["mountPropagation"] == "HostToContainer"
