"""What the writer's metrics count: writes, refused writes, failing containers, rejected sets."""

import errno
from collections.abc import Callable

from node_writer.cgroup_paths import CgroupLayout
from node_writer.pods import pod_view
from sandbox.fake_cgroups import KernelLikeFiles
from tests.node_writer.helpers import (
    Harness,
    create_cgroups,
    harness,
    pod_json,
    with_annotations,
)

MakeTree = Callable[[str, str], CgroupLayout]
WRITE_200 = {"iops-limit/write-iops": "200"}


def sample(writer: Harness, name: str, **labels: str) -> float | None:
    return writer.metrics.registry.get_sample_value(name, labels)


def test_writes_metric_counts_writes_not_resyncs(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    raw = pod_json(annotations=WRITE_200)
    pod = create_cgroups(writer.layout, raw)
    writer.reconciler.update(pod)
    writer.reconciler.resync()
    writer.reconciler.resync()
    assert sample(writer, "iops_node_writer_writes_total", result="ok") == 1
    writer.reconciler.update(pod_view(with_annotations(raw, {"iops-limit/write-iops": "300"})))
    assert sample(writer, "iops_node_writer_writes_total", result="ok") == 2
    assert sample(writer, "iops_node_writer_writes_total", result="failed") == 0
    assert sample(writer, "iops_node_writer_writes_total", result="unchanged") is None


class RefusingFiles(KernelLikeFiles):
    """A kernel that refuses every throttle write until told otherwise."""

    refuse = True

    def write(self, path: str, text: str) -> None:
        if self.refuse:
            raise OSError(errno.EINVAL, "Invalid argument")
        super().write(path, text)


def test_refused_writes_count_as_failed_and_the_container_as_failing(
    make_cgroup_tree: MakeTree,
) -> None:
    files = RefusingFiles()
    writer = harness(make_cgroup_tree("v1", "cgroupfs"), files=files)
    pod = create_cgroups(writer.layout, pod_json(annotations=WRITE_200))
    writer.reconciler.update(pod)
    writer.reconciler.resync()
    assert sample(writer, "iops_node_writer_writes_total", result="failed") == 2
    assert sample(writer, "iops_node_writer_failing_containers") == 1
    files.refuse = False
    writer.reconciler.resync()
    assert sample(writer, "iops_node_writer_writes_total", result="ok") == 1
    assert sample(writer, "iops_node_writer_failing_containers") == 0


def test_a_failure_before_any_write_is_failing_but_no_failed_write(
    make_cgroup_tree: MakeTree,
) -> None:
    writer = harness(make_cgroup_tree("v2", "cgroupfs"))
    pod = create_cgroups(writer.layout, pod_json(annotations=WRITE_200), io_enabled=False)
    writer.reconciler.update(pod)
    writer.reconciler.resync()
    assert sample(writer, "iops_node_writer_writes_total", result="failed") == 0
    assert sample(writer, "iops_node_writer_failing_containers") == 1
    writer.reconciler.delete(pod.uid)
    assert sample(writer, "iops_node_writer_failing_containers") == 0


def test_invalid_annotations_are_counted_once_per_rejected_set(make_cgroup_tree: MakeTree) -> None:
    writer = harness(make_cgroup_tree("v1", "cgroupfs"))
    raw = pod_json(annotations=WRITE_200)
    writer.reconciler.update(create_cgroups(writer.layout, raw))
    first_bad = pod_view(with_annotations(raw, {"iops-limit/write-iops": "+1"}))
    for _ in range(3):
        writer.reconciler.update(first_bad)
        writer.reconciler.resync()
    assert sample(writer, "iops_node_writer_invalid_annotations_total") == 1
    both_bad = {"iops-limit/write-iops": "+1", "iops-limit/read-iops": "+1"}
    writer.reconciler.update(pod_view(with_annotations(raw, both_bad)))
    assert sample(writer, "iops_node_writer_invalid_annotations_total") == 2
    writer.reconciler.update(pod_view(raw))
    writer.reconciler.update(first_bad)
    assert sample(writer, "iops_node_writer_invalid_annotations_total") == 3
