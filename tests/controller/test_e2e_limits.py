"""End to end: real Prometheus scraping the exporter, the fake API, the real controller."""

from controller.ownership import format_time
from tests.controller.steps import decided_steps, first_complete, first_with
from tests.fixtures.controller import FAST, Cluster, wait_for

WRITE_KEY = "iops-limit/write-iops.app"
INTERVAL = FAST["interval"]


def test_once_limits_what_history_shows_over_the_threshold_for_longer_than_for(
    cluster: Cluster,
) -> None:
    cluster.write_rules(for_="5m", release_for="10m")
    for name in ("long-writer", "new-writer", "quiet"):
        cluster.add_pod("shop", name)
    # Backfilled pasts: a 5m rule needs no five-minute wait.
    cluster.exporter.set_rates("shop", "long-writer", "app", write_iops=2000, since=600)
    cluster.exporter.set_rates("shop", "new-writer", "app", write_iops=2000, since=120)
    cluster.exporter.set_rates("shop", "quiet", "app", write_iops=20, since=600)
    cluster.start_prometheus()

    result = wait_for(lambda: cluster.once(rate_window=30.0, interval=15.0), "a first cycle")

    actions = dict(zip(result.decisions["pod"], result.decisions["action"], strict=True))
    assert actions["long-writer"] == "apply"
    assert actions["new-writer"] == "none"  # over the threshold, but not for 5m yet
    assert actions.get("quiet", "none") == "none"
    assert cluster.annotations("shop", "long-writer")[WRITE_KEY] == "500"
    assert WRITE_KEY not in cluster.annotations("shop", "new-writer")
    assert cluster.annotations("shop", "quiet") == {}


def test_dry_run_decides_but_patches_nothing(cluster: Cluster) -> None:
    cluster.write_rules(for_="5m")
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=2000, since=600)
    cluster.start_prometheus()
    cluster.kube.clear_requests()

    result = wait_for(
        lambda: cluster.once(rate_window=30.0, interval=15.0, dry_run=True), "a cycle"
    )

    assert list(result.decisions["action"]) == ["apply"]
    assert cluster.annotations("shop", "writer") == {}
    assert cluster.kube.writes() == []


def test_a_writer_is_limited_after_for_then_released_after_the_release_for(
    cluster: Cluster,
) -> None:
    cluster.add_pod("shop", "writer")
    cluster.add_pod("shop", "quiet")
    cluster.exporter.set_rates("shop", "quiet", "app", write_iops=10, since=60)
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=10, since=60)
    cluster.start_prometheus()
    controller = cluster.run()
    wait_for(lambda: controller.cycles() >= 2, "two quiet cycles")
    assert cluster.annotations("shop", "writer") == {}

    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000)
    annotations = wait_for(
        lambda: (
            cluster.annotations("shop", "writer").get(WRITE_KEY)
            and cluster.annotations("shop", "writer")
        ),
        "the limit annotation",
    )
    assert annotations["iops-limit/managed-by"] == "iops-controller"
    assert annotations["iops-limit/rule"] == "noisy/writer"
    applied = wait_for(
        lambda: [
            e for e in cluster.events("IOPSLimitApplied") if e["involvedObject"]["name"] == "writer"
        ],
        "the Event",
    )
    assert len(applied) == 1
    assert "write 500 IOPS" in applied[0]["message"]
    assert cluster.annotations("shop", "quiet") == {}
    labels = {
        "namespace": "shop",
        "pod": "writer",
        "container": "app",
        "direction": "write_iops",
        "owner": "controller",
        "rule": "noisy/writer",
        "node": "node-a",
    }
    wait_for(lambda: controller.sample("iops_limit_applied", labels) == 500.0, "the gauge")
    # Not before `for` and not after: at the first step where the rule had held for 4s.
    steps = decided_steps(controller, "apply")
    limited_at = first_with(steps, "apply")
    assert limited_at == first_complete(steps, lambda w: w > 1000, 4.0, INTERVAL)
    assert annotations["iops-limit/since"] == format_time(limited_at.time)

    cluster.exporter.set_rates("shop", "writer", "app", write_iops=50)
    wait_for(lambda: WRITE_KEY not in cluster.annotations("shop", "writer"), "the release")
    assert cluster.annotations("shop", "writer") == {}
    wait_for(lambda: len(cluster.events("IOPSLimitReleased")) == 1, "the release Event")
    after = decided_steps(controller, "release", len(steps))
    released_at = first_with(after, "release")
    assert released_at == first_complete(after, lambda w: w < 250, 4.0, INTERVAL)
    # Not early: demand was already under the release threshold at the steps before, and
    # the limit stayed in force at each of them.
    waiting = [step for step in after if step.time < released_at.time and step.write_iops < 250]
    assert len(waiting) >= 4
    assert all(step.limited and step.action == "keep" for step in waiting)
