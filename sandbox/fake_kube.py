"""A fake Kubernetes API server that the real ``kubernetes`` client talks to over HTTP.

Tests and the demo run the real client against it through a kubeconfig: pods, nodes, events
and leases with list, watch (resourceVersions, 410 Expired), get, create, replace, merge /
strategic-merge / JSON patches and delete. The test side drives the cluster directly
(:meth:`FakeKube.add_pod`, :meth:`FakeKube.restart_container`...) and injects failures
(:meth:`FakeKube.fail_next`, :meth:`FakeKube.drop_watches`, :meth:`FakeKube.compact`).

As a process, for the demo::

    python -m sandbox.fake_kube --port 0 --kubeconfig PATH [--pods FILE]

prints its URL on the first line of stdout and serves until SIGTERM. Other processes add or
change pods through the API itself (POST / PUT / PATCH), e.g. with ``make_pod``'s output.
"""

import argparse
import copy
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

import kubernetes
import yaml

from sandbox.fake_kube_errors import StatusError
from sandbox.fake_kube_faults import Faults, RequestLog, RequestRecord
from sandbox.fake_kube_http import ApiServer
from sandbox.fake_kube_objects import (
    DEFAULT_CONTAINERS,
    make_node,
    make_pod,
    restarted,
)
from sandbox.fake_kube_store import EVENTS, LEASES, NODES, PODS, Object, Store

LOOPBACK = "127.0.0.1"

__all__ = ["FakeKube", "PodsFileError", "RequestRecord", "StatusError", "load_pods_file"]


class FakeKube:
    """The fake API server on ``127.0.0.1:port`` (0: a free port), served from a thread.

    ``bookmark_interval``: an idle watch that allows bookmarks gets one this often (seconds).
    ``max_watch_seconds``: how long a watch without ``timeoutSeconds`` lasts.
    ``history_limit``: changes kept for watches; older resourceVersions answer 410.

    The test-side methods change the cluster as the API would, raising
    :class:`~sandbox.fake_kube_errors.StatusError` (``.code`` 404, 409, 422...) where the API
    would refuse, and every change is seen by watches.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        bookmark_interval: float = 1.0,
        max_watch_seconds: float = 1800.0,
        history_limit: int = 10_000,
    ) -> None:
        self._store = Store(history_limit)
        self._faults = Faults()
        self._requests = RequestLog()
        self._server = ApiServer(
            (LOOPBACK, port),
            self._store,
            self._faults,
            self._requests,
            bookmark_interval=bookmark_interval,
            max_watch_seconds=max_watch_seconds,
        )
        # A short poll interval keeps stop() (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-kube", daemon=True
        )

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection, watches included."""
        self._store.close()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._server.cut_connections()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def write_kubeconfig(self, path: str | Path) -> Path:
        """A kubeconfig for this server (plain http, no credentials); returns its path."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def api_client(self) -> kubernetes.client.ApiClient:
        """A real client for this server; close it (or use it as a context manager) after."""
        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        return kubernetes.client.ApiClient(configuration)

    # -- the cluster, driven by the test ----------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The newest resourceVersion (every change to any object bumps it)."""
        return str(self._store.resource_version)

    def add_node(self, name: str, labels: Mapping[str, str] | None = None) -> Object:
        return self._store.create(NODES, None, make_node(name, labels))

    def get_node(self, name: str) -> Object:
        return self._store.get(NODES, None, name)

    @staticmethod
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
    ) -> Object:
        """A realistic running pod (see :func:`sandbox.fake_kube_objects.make_pod`); it is not
        stored until passed to :meth:`add_pod`."""
        return make_pod(
            namespace,
            name,
            node,
            containers=containers,
            labels=labels,
            annotations=annotations,
            qos=qos,
            container_ids=container_ids,
            uid=uid,
            phase=phase,
        )

    def add_pod(self, pod: Object) -> Object:
        """Store a pod (ADDED to watches); returns it with its resourceVersion."""
        return self._store.create(PODS, pod["metadata"].get("namespace", "default"), pod)

    def update_pod(self, pod: Object) -> Object:
        """Replace the stored pod of the same namespace and name (MODIFIED to watches),
        whatever its resourceVersion: the test is the cluster, it does not conflict."""
        metadata = pod["metadata"]
        namespace, name = metadata.get("namespace", "default"), metadata["name"]

        def replace(_old: Object) -> Object:
            new = copy.deepcopy(pod)  # the caller keeps its dict to change again
            new["metadata"]["namespace"] = namespace
            new["metadata"].pop("resourceVersion", None)
            return new

        return self._store.update(PODS, namespace, name, replace)

    def restart_container(self, namespace: str, name: str, container: str) -> str:
        """Simulate the kubelet restarting a container: new containerID, restartCount + 1.
        Returns the new containerID."""
        pod = self._store.update(PODS, namespace, name, lambda old: restarted(old, container))
        statuses = pod["status"]["containerStatuses"]
        return str(next(s["containerID"] for s in statuses if s["name"] == container))

    def delete_pod(self, namespace: str, name: str) -> Object:
        return self._store.delete(PODS, namespace, name)

    def get_pod(self, namespace: str, name: str) -> Object:
        return self._store.get(PODS, namespace, name)

    def pods(self, namespace: str | None = None) -> list[Object]:
        return self._store.select(PODS, namespace, lambda _obj: True)[0]

    def events(self, namespace: str | None = None) -> list[Object]:
        """Events recorded through the API, oldest first."""
        events = self._store.select(EVENTS, namespace, lambda _obj: True)[0]
        return sorted(events, key=lambda event: int(event["metadata"]["resourceVersion"]))

    def get_lease(self, namespace: str, name: str) -> Object:
        return self._store.get(LEASES, namespace, name)

    # -- fault injection and observation ----------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far: (method, path, query, status), oldest first."""
        return self._requests.records()

    def writes(self) -> list[RequestRecord]:
        """The requests that tried to change something (POST, PUT, PATCH, DELETE)."""
        return [record for record in self._requests.records() if record.is_write]

    def clear_requests(self) -> None:
        self._requests.clear()

    def fail_next(
        self, method: str, path_regex: str, status: int, times: int = 1, message: str = ""
    ) -> None:
        """Answer the next ``times`` matching requests (``method`` or "*", ``re.search`` on
        the path) with ``status`` and a Status body instead of serving them."""
        self._faults.fail_next(method, path_regex, status, times, message)

    def set_delay(self, seconds: float, path_regex: str = "") -> None:
        """Hold matching requests ``seconds`` before serving them; 0 turns it off."""
        self._faults.set_delay(seconds, path_regex)

    def drop_watches(self) -> None:
        """Cut every open watch connection mid-stream, as an API server restart would."""
        self._store.drop_watches()

    def compact(self) -> str:
        """Forget the change history: watches from an older resourceVersion get 410 Expired.
        Returns the resourceVersion watches may start from again."""
        return str(self._store.compact())


class PodsFileError(Exception):
    """The --pods file is unreadable or an entry in it is not a pod."""


def load_pods_file(path: Path) -> list[Object]:
    """Pods from YAML or JSON: a list, a PodList (``items``) or ``{pods: [...]}``. An entry
    with ``metadata`` is a full pod; otherwise it holds :func:`make_pod`'s arguments."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PodsFileError(f"{path}: {error}") from error
    entries = (
        document.get("items", document.get("pods")) if isinstance(document, dict) else document
    )
    if not isinstance(entries, list):
        raise PodsFileError(f"{path}: expected a list of pods, or a mapping with items or pods")
    pods = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise PodsFileError(f"{path}: pod #{index + 1} is not a mapping")
        if "metadata" in entry:
            pods.append(entry)
            continue
        try:
            pods.append(make_pod(**entry))
        except (TypeError, ValueError, KeyError) as error:
            raise PodsFileError(f"{path}: pod #{index + 1}: {error}") from error
    return pods


def _seed(kube: FakeKube, pods: list[Object], path: Path) -> None:
    """Store the pods, and the nodes they run on; the API's refusals name the pod."""
    nodes = {str(pod.get("spec", {}).get("nodeName") or "") for pod in pods} - {""}
    for node in sorted(nodes):
        kube.add_node(node)
    for index, pod in enumerate(pods):
        try:
            kube.add_pod(pod)
        except StatusError as error:
            raise PodsFileError(f"{path}: pod #{index + 1}: {error.message}") from error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.fake_kube", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig to write")
    parser.add_argument("--pods", type=Path, help="YAML/JSON pods to start with")
    args = parser.parse_args(argv)
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pods = load_pods_file(args.pods) if args.pods else []
        with FakeKube(args.port) as kube:
            _seed(kube, pods, args.pods)
            kube.write_kubeconfig(args.kubeconfig)
            print(kube.url, flush=True)
            stopping.wait()
    except PodsFileError as error:
        print(f"fake_kube: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"fake_kube: cannot serve on {LOOPBACK}:{args.port}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
