"""End to end: a controller restarted in the middle of a ``for`` window decides at the step a
controller that kept running would have, for a limit and for its release (DESIGN.md: derive
``for`` from Prometheus history, not only from memory); one restarted within the hold after a
release keeps that hold. Measured in evaluation steps."""

from tests.controller.steps import (
    WRITER,
    Step,
    decided_steps,
    first_complete,
    first_with,
    observed,
    seeded,
)
from tests.fixtures.controller import FAST, Cluster, RunningController, free_port, wait_for

WRITE_KEY = "iops-limit/write-iops.app"
INTERVAL = FAST["interval"]
FOR = 6.0  # long enough that a stop and a start fit well inside the window


def steps_since(controller: RunningController, start: int = 0) -> list[Step]:
    return observed(controller.results)[start:]


def test_a_restart_mid_window_neither_hastens_nor_delays_the_limit_or_its_release(
    cluster: Cluster,
) -> None:
    cluster.write_rules(for_=f"{FOR:g}s", release_for=f"{FOR:g}s")
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=10, since=60)
    cluster.start_prometheus()
    first = cluster.run()
    wait_for(lambda: first.cycles() >= 2, "two quiet cycles")

    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000)
    wait_for(lambda: any(s.write_iops > 1000 for s in steps_since(first)), "the rule holding")
    first.stop()
    assert WRITE_KEY not in cluster.annotations("shop", "writer")

    second = cluster.run()
    cycles = decided_steps(second, "apply")
    assert cluster.annotations("shop", "writer")[WRITE_KEY] == "500"
    assert cycles[0].action == "none", "the restart did not fall inside the window"
    history = seeded(second.settings, FOR, cycles[0].time)
    limited_at = first_with(cycles, "apply")
    assert limited_at == first_complete(cycles, lambda w: w > 1000, FOR, INTERVAL, history)

    cluster.exporter.set_rates("shop", "writer", "app", write_iops=50)
    applied_steps = len(second.results)
    wait_for(
        lambda: any(s.write_iops < 250 for s in steps_since(second, applied_steps)),
        "demand under the release threshold",
    )
    second.stop()

    third = cluster.run()
    cycles = decided_steps(third, "release")
    assert WRITE_KEY not in cluster.annotations("shop", "writer")
    assert cycles[0].action == "keep", "the restart did not fall inside the release window"
    history = seeded(third.settings, FOR, cycles[0].time)
    released_at = first_with(cycles, "release")
    assert released_at == first_complete(cycles, lambda w: w < 250, FOR, INTERVAL, history)
    assert all(s.limited for s in cycles if s.time < released_at.time)


def reasons(controller: RunningController) -> list[tuple[float, str]]:
    """Each decided cycle's time and reason for the writer."""
    out = []
    for result in controller.results:
        rows = result.decisions
        row = rows[(rows["pod"] == WRITER[1]) & (rows["container"] == WRITER[2])]
        out.append((result.now, "" if row.empty else str(row["reason"].iloc[0])))
    return out


def test_a_container_released_just_before_a_restart_is_not_limited_again_before_the_hold(
    cluster: Cluster,
) -> None:
    """The new controller recalls the release from the first one's ``iops_limit_applied``,
    which Prometheus scrapes from the controller's /metrics (one port for both in turn)."""
    hold = 15.0  # a stop and a start fit well inside it
    metrics_port = free_port()
    cluster.write_rules(for_="2s", release_for="2s")
    cluster.add_pod("shop", "writer")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000, since=60)
    cluster.start_prometheus(controller_port=metrics_port)
    first = cluster.run(min_hold=hold, metrics_port=metrics_port)
    decided_steps(first, "apply")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=10)
    released = first_with(decided_steps(first, "release"), "release")
    cluster.exporter.set_rates("shop", "writer", "app", write_iops=3000)
    first.stop()
    assert WRITE_KEY not in cluster.annotations("shop", "writer")

    second = cluster.run(min_hold=hold, metrics_port=metrics_port)
    cycles = decided_steps(second, "apply")
    assert cycles[0].time < released.time + hold, "the restart did not fall inside the hold"
    assert first_with(cycles, "apply").time >= released.time + hold
    held = [
        reason
        for _, reason in reasons(second)
        if reason.startswith("min hold") and "released" in reason
    ]
    assert held, "the rule never fired inside the hold: nothing was held back"
    assert cluster.annotations("shop", "writer")[WRITE_KEY] == "500"
