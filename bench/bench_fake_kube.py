"""Fake Kubernetes API benchmark: what a request costs the tests and benchmarks that use it.

``python -m bench.bench_fake_kube [--pods 2000] [--requests 300]``

Through the real ``kubernetes`` client over loopback HTTP: GET and merge-PATCH of one pod,
listing every pod and one node's pods, and the delay from a PATCH returning to the watch
event reaching an open watch.
"""

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.watch import Watch

from sandbox.fake_kube import FakeKube

NODES = 20


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


def timed(count: int, call: Callable[[int], object]) -> list[float]:
    samples = []
    for index in range(count):
        start = time.perf_counter()
        call(index)
        samples.append(time.perf_counter() - start)
    return samples


def watch_delays(kube: FakeKube, core: CoreV1Api, count: int) -> list[float]:
    """Seconds from sending a PATCH to its MODIFIED event reaching the watcher."""
    arrived: dict[str, float] = {}
    ready = threading.Event()

    def watch() -> None:
        stream = Watch().stream(
            core.list_namespaced_pod,
            "ns-0",
            resource_version=kube.resource_version,
            timeout_seconds=120,
        )
        ready.set()
        for event in stream:
            annotations = event["raw_object"]["metadata"].get("annotations") or {}
            if "bench" in annotations:
                arrived[annotations["bench"]] = time.perf_counter()
            if len(arrived) == count:
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(30)
    time.sleep(0.5)  # the watch request is on the wire once the stream is first iterated
    sent: dict[str, float] = {}
    for index in range(count):
        body: dict[str, Any] = {"metadata": {"annotations": {"bench": str(index)}}}
        sent[str(index)] = time.perf_counter()
        core.patch_namespaced_pod("pod-0", "ns-0", body)
        time.sleep(0.005)
    watcher.join(60)
    return [arrived[key] - sent[key] for key in sent if key in arrived]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with FakeKube() as kube, kube.api_client() as api:
        core = CoreV1Api(api)
        for index in range(args.pods):
            pod = kube.make_pod(f"ns-{index % NODES}", f"pod-{index}", f"node-{index % NODES}")
            kube.add_pod(pod)

        def pod_of(index: int) -> tuple[str, str]:
            number = index % args.pods
            return f"pod-{number}", f"ns-{number % NODES}"

        gets = timed(args.requests, lambda i: core.read_namespaced_pod(*pod_of(i)))
        patches = timed(
            args.requests,
            lambda i: core.patch_namespaced_pod(
                *pod_of(i), {"metadata": {"annotations": {"iops-limit/limit": str(100 + i)}}}
            ),
        )
        lists = timed(10, lambda _i: core.list_pod_for_all_namespaces())
        node_lists = timed(
            args.requests // 3,
            lambda _i: core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-3"),
        )
        delays = watch_delays(kube, core, args.requests // 3)
    print(f"fake API, {args.pods} pods on {NODES} nodes, real kubernetes client over loopback")
    figures = [
        ("GET one pod", percentiles(gets)),
        ("merge PATCH one pod", percentiles(patches)),
        (f"list all {args.pods} pods (client models)", percentiles(lists)),
        (f"list one node's {args.pods // NODES} pods", percentiles(node_lists)),
        ("PATCH sent -> watch event", f"{percentiles(delays)} ({len(delays)} events)"),
    ]
    for name, figure in figures:
        print(f"{name:<40} {figure}")


if __name__ == "__main__":
    main()
