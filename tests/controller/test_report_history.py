import dataclasses
import math

import pandas as pd

from controller.report_history import combine, observe, past_limits, rates_by_container
from tests.controller.report_records import NOW, WRITER

STEP = 15.0  # the range query's step


def series(
    pod: str, direction: str, rule: str, points: list[tuple[float, float]], node: str = "node-a"
) -> dict[str, object]:
    metric = {
        "namespace": "team-a",
        "pod": pod,
        "container": "app",
        "direction": direction,
        "owner": "controller" if rule else "person",
        "rule": rule,
        "node": node,
    }
    return {"metric": metric, "values": [[t, str(v)] for t, v in points]}


def every_step(start: float, end: float, value: float) -> list[tuple[float, float]]:
    """A gauge sample at every step from start to end, as a range query answers."""
    return [(start + i * STEP, value) for i in range(int((end - start) // STEP) + 1)]


def test_gauge_series_become_one_record_per_container_and_rule() -> None:
    records = past_limits(
        [
            series(
                "writer-0",
                "write_iops",
                "noisy/sustained-writer",
                every_step(NOW - 900, NOW - 615, 800) + every_step(NOW - 600, NOW - 300, 500),
            ),
            series(
                "writer-0",
                "write_bps",
                "noisy/sustained-writer",
                every_step(NOW - 600, NOW - 300, 4e6),
            ),
            series("writer-0", "read_iops", "noisy/hot-reader", [(NOW - 200, 900)]),
            series("manual", "write_iops", "", [(NOW - 100, 300)]),
        ],
        STEP,
    )
    by_rule = {(r.pod, r.rule_label): r for r in records}
    writer = by_rule[("writer-0", "noisy/sustained-writer")]
    assert (writer.group, writer.rule) == ("noisy", "sustained-writer")
    assert writer.limits == {"write_iops": 500.0, "write_bps": 4e6}  # last value per direction
    assert (writer.since, writer.released) == (NOW - 900, NOW - 300)
    assert by_rule[("writer-0", "noisy/hot-reader")].limits == {"read_iops": 900.0}
    manual = by_rule[("manual", "set by a person")]
    assert (manual.group, manual.rule) == ("", "")


def test_series_without_a_known_direction_or_samples_are_ignored() -> None:
    assert (
        past_limits(
            [series("p", "sideways", "g/r", [(NOW, 1)]), series("p", "write_iops", "g/r", [])],
            STEP,
        )
        == []
    )


def test_limits_in_force_come_from_annotations_and_the_rest_are_released() -> None:
    past = past_limits(
        [
            series(
                "writer-0", "write_iops", "noisy-neighbours/sustained-writer", [(NOW - 900, 500)]
            ),
            series(
                "gone-1",
                "write_iops",
                "noisy-neighbours/sustained-writer",
                [(NOW - 900, 500), (NOW - 400, 500)],
            ),
        ],
        600.0,
    )
    combined = combine([WRITER], past)
    assert combined[0] is WRITER
    (released,) = combined[1:]
    assert released.pod == "gone-1"
    assert released.released == NOW - 400
    assert not released.in_force


def test_a_limit_released_and_set_again_is_two_records_each_with_its_node() -> None:
    past = past_limits(
        [
            series(
                "writer-0",
                "write_iops",
                "noisy/sustained-writer",
                every_step(NOW - 3000, NOW - 2400, 500) + every_step(NOW - 900, NOW, 300),
                node="node-b",
            ),
        ],
        STEP,
    )
    spans = sorted((r.since, r.released, r.limits["write_iops"], r.node) for r in past)
    assert spans == [
        (NOW - 3000, NOW - 2400, 500.0, "node-b"),
        (NOW - 900, NOW, 300.0, "node-b"),
    ]


def test_a_gap_shorter_than_the_minimum_hold_is_missed_scrapes_not_a_release() -> None:
    points = every_step(NOW - 900, NOW - 600, 500) + every_step(NOW - 420, NOW - 300, 500)
    gauge = [series("writer-0", "write_iops", "noisy/sustained-writer", points)]
    (record,) = past_limits(gauge, STEP, min_gap=300.0)
    assert (record.since, record.released) == (NOW - 900, NOW - 300)
    assert len(past_limits(gauge, STEP, min_gap=60.0)) == 2


def test_the_episode_of_the_limit_in_force_is_dropped_and_earlier_ones_stay_released() -> None:
    limited_again = dataclasses.replace(
        WRITER, group="noisy", rule="sustained-writer", since=NOW - 900
    )
    past = past_limits(
        [
            series(
                "writer-0",
                "write_iops",
                "noisy/sustained-writer",
                every_step(NOW - 3000, NOW - 2400, 500) + every_step(NOW - 885, NOW, 500),
            ),
        ],
        STEP,
    )
    combined = combine([limited_again], past)
    assert combined[0] is limited_again
    (earlier,) = combined[1:]
    assert (earlier.since, earlier.released, earlier.node) == (NOW - 3000, NOW - 2400, "node-a")


def test_observed_figures_are_matched_by_container_and_decision_time() -> None:
    frame = pd.DataFrame(
        [
            {
                "namespace": "team-a",
                "pod": "writer-0",
                "container": "app",
                "node": "",
                "read_iops": 1.0,
                "write_iops": 480.0,
                "total_iops": 481.0,
                "read_bps": 0.0,
                "write_bps": 1e6,
            }
        ]
    )
    then = pd.DataFrame(
        [
            {
                "namespace": "team-a",
                "pod": "writer-0",
                "container": "app",
                "node": "",
                "read_iops": 2.0,
                "write_iops": 1500.0,
                "total_iops": 1502.0,
                "read_bps": 0.0,
                "write_bps": 6e6,
            }
        ]
    )
    assert WRITER.since is not None
    (record,) = observe(
        [WRITER], rates_by_container(frame), {WRITER.since: rates_by_container(then)}
    )
    assert record.observed_now["write_iops"] == 480.0
    assert record.observed_at_decision["write_iops"] == 1500.0
    assert math.isclose(record.observed_at_decision["write_bps"], 6e6)
    assert rates_by_container(frame.iloc[0:0]) == {}
