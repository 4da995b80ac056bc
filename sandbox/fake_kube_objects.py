"""Realistic Pod and Node objects for the fake API server, as a kubelet would report them."""

import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.fake_kube_store import now_rfc3339

QOS_CLASSES = ("Guaranteed", "Burstable", "BestEffort")
PHASES = ("Pending", "Running", "Succeeded", "Failed")
DEFAULT_CONTAINERS: tuple[Mapping[str, str], ...] = ({"name": "app", "image": "busybox:1.36"},)


def new_container_id() -> str:
    """A containerd container ID as the kubelet reports it: ``containerd://<64 hex>``."""
    return f"containerd://{secrets.token_hex(32)}"


def _full_container_id(container_id: str) -> str:
    return container_id if "://" in container_id else f"containerd://{container_id}"


def _resources(qos: str) -> dict[str, Any]:
    if qos == "Guaranteed":
        both = {"cpu": "100m", "memory": "128Mi"}
        return {"requests": dict(both), "limits": dict(both)}
    if qos == "Burstable":
        return {"requests": {"cpu": "50m", "memory": "64Mi"}}
    return {}


def make_pod(
    namespace: str,
    name: str,
    node: str,
    *,
    containers: Sequence[Mapping[str, str]] = DEFAULT_CONTAINERS,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    qos: str = "Burstable",
    container_ids: Mapping[str, str] | None = None,
    uid: str | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    """A pod scheduled on ``node``, as the kubelet reports it in ``phase``.

    ``containers`` are ``{"name", "image"}``; ``container_ids`` maps a container name to its
    ID (``containerd://<hex>`` or bare hex); containers not named there get a fresh one.
    ``qos`` is the pod's ``status.qosClass``, with matching resources on every container.
    A ``Pending`` pod's containers are still being created: waiting, with no containerID yet.
    ``Succeeded`` and ``Failed`` pods' containers have terminated (exit code 0 and 1).
    """
    if qos not in QOS_CLASSES:
        raise ValueError(f"qos {qos!r} is not one of {', '.join(QOS_CLASSES)}")
    if phase not in PHASES:
        raise ValueError(f"phase {phase!r} is not one of {', '.join(PHASES)}")
    ids = {name: _full_container_id(cid) for name, cid in (container_ids or {}).items()}
    unknown = set(ids) - {container["name"] for container in containers}
    if unknown:
        raise ValueError(f"container_ids names containers the pod lacks: {sorted(unknown)}")
    started = now_rfc3339()
    specs = [
        {
            "name": container["name"],
            "image": container["image"],
            "imagePullPolicy": "IfNotPresent",
            "resources": _resources(qos),
        }
        for container in containers
    ]
    statuses = [
        _container_status(container, ids.get(container["name"]), phase, started)
        for container in containers
    ]
    running = phase == "Running"
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or str(uuid.uuid4()),
            "creationTimestamp": started,
        },
        "spec": {
            "nodeName": node,
            "containers": specs,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
        },
        "status": {
            "phase": phase,
            "qosClass": qos,
            "hostIP": "10.0.0.10",
            "podIP": f"10.244.0.{secrets.randbelow(250) + 2}",
            "startTime": started,
            "conditions": [
                {"type": kind, "status": str(running), "lastTransitionTime": started}
                for kind in ("Ready", "ContainersReady")
            ]
            + [
                {"type": kind, "status": "True", "lastTransitionTime": started}
                for kind in ("Initialized", "PodScheduled")
            ],
            "containerStatuses": statuses,
        },
    }
    # The real server leaves empty label and annotation maps out.
    if labels:
        pod["metadata"]["labels"] = dict(labels)
    if annotations:
        pod["metadata"]["annotations"] = dict(annotations)
    return pod


def _container_status(
    container: Mapping[str, str], container_id: str | None, phase: str, started: str
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": container["name"],
        "image": container["image"],
        "imageID": f"docker.io/library/{container['image']}@sha256:{secrets.token_hex(32)}",
        "ready": phase == "Running",
        "started": phase == "Running",
        "restartCount": 0,
    }
    if phase == "Pending":
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        return status
    status["containerID"] = container_id or new_container_id()
    if phase == "Running":
        status["state"] = {"running": {"startedAt": started}}
    else:
        exit_code = 0 if phase == "Succeeded" else 1
        status["state"] = {"terminated": _terminated(status["containerID"], exit_code, started)}
    return status


def _terminated(container_id: str, exit_code: int, started: str) -> dict[str, Any]:
    return {
        "containerID": container_id,
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "startedAt": started,
        "finishedAt": now_rfc3339(),
    }


def restarted(pod: dict[str, Any], container: str) -> dict[str, Any]:
    """``pod`` after the kubelet restarted ``container``: a new containerID, one more restart,
    and the old container in ``lastState``."""
    for status in pod.get("status", {}).get("containerStatuses", []):
        if status["name"] == container:
            started = status.get("state", {}).get("running", {}).get("startedAt", now_rfc3339())
            if "containerID" in status:
                status["lastState"] = {"terminated": _terminated(status["containerID"], 1, started)}
            status["containerID"] = new_container_id()
            status["restartCount"] = int(status.get("restartCount", 0)) + 1
            status["state"] = {"running": {"startedAt": now_rfc3339()}}
            status["ready"] = status["started"] = True
            return pod
    raise ValueError(f"pod {pod['metadata']['name']} has no container {container!r}")


def make_node(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Ready node running containerd."""
    now = now_rfc3339()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
            | dict(labels or {}),
        },
        "spec": {},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "addresses": [{"type": "Hostname", "address": name}],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": "containerd://1.7.13",
                "kernelVersion": "6.1.0-18-amd64",
                "kubeProxyVersion": "v1.30.0",
                "kubeletVersion": "v1.30.0",
                "machineID": secrets.token_hex(16),
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": str(uuid.uuid4()),
            },
        },
    }
