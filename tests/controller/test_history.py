import pandas as pd

from controller.history import History


def rates(write_iops: float, pods: tuple[str, ...] = ("a",)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "namespace": "ns",
            "pod": list(pods),
            "container": "app",
            "node": "n",
            "read_iops": 0.0,
            "write_iops": write_iops,
            "total_iops": write_iops,
            "read_bps": 0.0,
            "write_bps": 0.0,
        }
    )


def test_memory_covers_a_window_only_after_it_has_seen_all_of_it() -> None:
    history = History()
    assert not history.covers(start=100, interval=10)
    for now in (100, 110, 120):
        history.add(rates(1.0), now, interval=10)
    assert history.covers(start=100, interval=10)
    assert not history.covers(start=80, interval=10)


def test_a_seed_from_prometheus_covers_its_window_and_is_extended_by_cycles() -> None:
    history = History()
    seeded = pd.concat([rates(5.0).assign(time=t) for t in (100.0, 110.0, 120.0)])
    history.seed(seeded, start=100, now=120)
    history.add(rates(7.0), 130, interval=10)
    frame = history.frame(start=110)
    assert list(frame["time"]) == [110.0, 120.0, 130.0]
    assert list(frame["write_iops"]) == [5.0, 5.0, 7.0]
    assert history.covers(start=100, interval=10)


def test_a_gap_or_a_late_cycle_breaks_coverage_so_the_next_cycle_reseeds() -> None:
    history = History()
    history.add(rates(1.0), 100, interval=10)
    history.add(rates(1.0), 110, interval=10)
    history.gap()
    assert not history.covers(start=100, interval=10)
    late = History()
    late.add(rates(1.0), 100, interval=10)
    late.add(rates(1.0), 150, interval=10)
    assert not late.covers(start=100, interval=10)


def test_old_steps_are_dropped_and_the_frame_has_the_history_columns() -> None:
    history = History()
    for now in range(100, 200, 10):
        history.add(rates(float(now), ("a", "b")), float(now), interval=10)
    frame = history.frame(start=170)
    assert list(frame.columns) == [
        "time", "namespace", "pod", "container",
        "read_iops", "write_iops", "total_iops", "read_bps", "write_bps",
    ]  # fmt: skip
    assert sorted(set(frame["time"])) == [170.0, 180.0, 190.0]
    assert len(history.frame(start=0)) == 6  # older steps are gone from memory
