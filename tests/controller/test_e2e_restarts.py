"""End to end: a controller restarted in the middle of a ``for`` window decides at the step a
controller that kept running would have, for a limit and for its release (DESIGN.md: derive
``for`` from Prometheus history, not only from memory). Measured in evaluation steps."""

from tests.controller.steps import Step, decided_steps, first_complete, first_with, observed, seeded
from tests.fixtures.controller import FAST, Cluster, RunningController, wait_for

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
