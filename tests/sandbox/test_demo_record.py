"""What the demo reports about the noisy container, from a made-up but exact observation log."""

from sandbox.demo_cgroups import Counters, Limits
from sandbox.demo_record import ContainerRecord, Observation, noisy_figures


def _story() -> tuple[ContainerRecord, list[list[str]]]:
    """2000 write IOPS; annotated at 9 s; 500 IOPS limit from 10 s; load ends at 20 s;
    annotation gone and limit cleared at 25 s. Polled four times a second."""
    record = ContainerRecord("shop/batch-import/importer")
    changes = []
    writes = 0.0
    for step in range(4 * 30 + 1):
        at = step / 4
        limit = 500 if 10 <= at < 25 else None
        changes.append(
            record.add(
                Observation(
                    at,
                    Counters(write_ios=round(writes)),
                    Limits(write_iops=limit),
                    annotated=9 <= at < 25,
                )
            )
        )
        rate = 0 if at >= 20 else (limit or 2000)
        writes += rate / 4
        if at == 20:
            record.load_stopped_at = at
    return record, changes


def test_states_follow_annotation_then_throttle_then_release() -> None:
    record, changes = _story()
    said = [text for texts in changes for text in texts]
    assert said == [
        "annotated by the controller",
        "throttled: cgroup limit 500 IOPS written by the node writer",
        "released: cgroup limit cleared",
    ]
    assert (record.annotated_at, record.limited_at, record.released_at) == (9.0, 10.0, 25.0)
    assert record.state == "released"
    assert record.limits_seen == [500]


def test_noisy_figures_measure_before_and_under_the_limit_from_counters() -> None:
    record, _ = _story()
    figures = noisy_figures(record)
    assert figures["write_iops_before_limit"] == 2000
    assert figures["write_iops_under_limit"] == 500
    assert figures["limit_iops"] == 500
    assert figures["seconds_to_limit"] == 10.0
    assert figures["seconds_from_load_stop_to_release"] == 5.0


def test_per_second_rows_carry_the_limit_only_while_it_was_set() -> None:
    record, _ = _story()
    rows = {int(at): (writes, limit) for at, _, writes, limit in record.per_second()}
    assert rows[5] == (2000, None)
    assert rows[15] == (500, 500)
    assert rows[28] == (0, None)
