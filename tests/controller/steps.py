"""Evaluation steps of one container, and where a rule's ``for`` window completes on them.

End-to-end tests measure "not before ``for``, not after" in evaluation steps (each cycle's
``now`` and what it read), never in wall-clock seconds: a loaded machine shifts when cycles
run, not which step a decision belongs to. :func:`first_complete` is Prometheus' ``for`` as
DESIGN.md states it, written independently of the engine: the condition holds at a step and
at every step of the grid back to one at least ``for`` earlier; a step with no reading breaks
the window.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.cycle import CycleResult
from controller.settings import ControllerSettings
from controller.wiring import prometheus_source
from tests.fixtures.controller import RunningController, wait_for

Key = tuple[str, str, str]
WRITER: Key = ("shop", "writer", "app")


@dataclass(frozen=True)
class Step:
    time: float  # the evaluation's `now`
    write_iops: float  # NaN: no reading at this step
    action: str  # the decision; "" for a step read back from Prometheus' history
    limited: bool  # a limit was in force after this cycle (False for a step of history)


def observed(results: Sequence[CycleResult], key: Key = WRITER) -> list[Step]:
    """What each decided cycle read of ``key`` and decided for it."""
    steps = []
    for result in results:
        rows = result.decisions
        row = rows[
            (rows["namespace"] == key[0]) & (rows["pod"] == key[1]) & (rows["container"] == key[2])
        ]
        limited = any((a.namespace, a.pod, a.container) == key for a in result.applied)
        if row.empty:
            steps.append(Step(result.now, math.nan, "none", limited))
        else:
            write = float(row["write_iops"].iloc[0])
            steps.append(Step(result.now, write, str(row["action"].iloc[0]), limited))
    return steps


def seeded(
    settings: ControllerSettings, window: float, until: float, key: Key = WRITER
) -> list[Step]:
    """The steps before ``until`` that a controller whose first cycle ran at ``until`` read
    from Prometheus' history (the same range query, after the fact: the samples are old)."""
    with prometheus_source(settings) as source:
        frame = source.history(window, settings.interval, until)
    rows = frame[
        (frame["namespace"] == key[0])
        & (frame["pod"] == key[1])
        & (frame["container"] == key[2])
        & (frame["time"] < until - settings.interval / 2)
    ]
    return [
        Step(float(t), float(w), "", False)
        for t, w in zip(rows["time"], rows["write_iops"], strict=True)
    ]


def first_complete(
    cycles: Sequence[Step],
    holds: Callable[[float], bool],
    for_: float,
    interval: float,
    before: Sequence[Step] = (),
) -> Step | None:
    """The first of ``cycles`` at which ``holds`` held for ``for_``, counting steps of
    ``before`` (history older than the first cycle) and of ``cycles`` themselves."""
    needed = math.ceil(for_ / interval - 1e-3)
    every = [*before, *cycles]
    for step in cycles:
        if not holds(step.write_iops):
            continue
        held = {
            round((step.time - other.time) / interval)
            for other in every
            if other.time < step.time and holds(other.write_iops)
        }
        if all(back in held for back in range(1, needed + 1)):
            return step
    return None


def first_with(steps: Sequence[Step], action: str) -> Step:
    found = next((step for step in steps if step.action == action), None)
    assert found is not None, f"no step decided {action!r}: {steps}"
    return found


def decided_steps(controller: RunningController, action: str, start: int = 0) -> list[Step]:
    """The controller's steps from the ``start``-th on, once one of them decided ``action``.

    Wait for this, not for the annotation: a cycle patches and records its Events before it
    hands over its result."""

    def steps() -> list[Step] | None:
        seen = observed(controller.results)[start:]
        return seen if any(step.action == action for step in seen) else None

    found: list[Step] = wait_for(steps, f"a step deciding {action}")
    return found
