import pandas as pd

from controller.releases import RecentReleases, recalled_releases


def decisions(actions: dict[str, str]) -> pd.DataFrame:
    rows = [(*key.split("/"), action) for key, action in actions.items()]
    return pd.DataFrame(rows, columns=["namespace", "pod", "container", "action"])


def test_releases_are_remembered_until_the_hold_has_passed() -> None:
    releases = RecentReleases(hold=300)
    releases.record(decisions({"a/p/c": "release", "a/q/c": "keep"}), now=1000)
    assert releases.frame(1299).to_dict("records") == [
        {"namespace": "a", "pod": "p", "container": "c", "released": 1000.0}
    ]
    assert releases.frame(1300).empty


NOW = 10_000.0
STEP = 2.0
HOLD = 300.0


def gauge(
    pod: str, points: range, rule: str = "noisy/writer", direction: str = "write_iops"
) -> dict[str, object]:
    """One ``iops_limit_applied`` series of a range answer, a point at each offset from NOW."""
    metric = {
        "namespace": "shop",
        "pod": pod,
        "container": "app",
        "direction": direction,
        "owner": "controller" if rule else "person",
        "rule": rule,
        "node": "node-a",
    }
    return {"metric": metric, "values": [[NOW + offset, "500"] for offset in points]}


def test_a_series_that_ended_within_the_hold_is_a_release_a_step_after_its_last_point() -> None:
    recalled = recalled_releases(
        [gauge("web-0", range(-302, -100, 2))], STEP, NOW, HOLD, limited=set()
    )
    assert recalled == {("shop", "web-0", "app"): NOW - 100}  # last point NOW-102, plus a step


def test_the_latest_end_over_directions_and_rules_counts() -> None:
    answer = [
        gauge("web-0", range(-302, -200, 2), rule="noisy/reader", direction="read_iops"),
        gauge("web-0", range(-302, -60, 2)),
    ]
    recalled = recalled_releases(answer, STEP, NOW, HOLD, limited=set())
    assert recalled == {("shop", "web-0", "app"): NOW - 60}


def test_containers_limited_now_persons_limits_and_older_releases_are_not_recalled() -> None:
    answer = [
        gauge("limited-0", range(-302, -100, 2)),  # re-limited since: annotations say so
        gauge("person-0", range(-302, -100, 2), rule=""),  # a person removing theirs
        gauge("old-0", range(-302, -300, 2)),  # released 300s ago: the hold has passed
    ]
    limited = {("shop", "limited-0", "app")}
    assert recalled_releases(answer, STEP, NOW, HOLD, limited) == {}


def test_a_series_running_up_to_now_without_a_limit_in_force_was_released_just_now() -> None:
    # The release patch came after Prometheus' last scrape of the controller.
    recalled = recalled_releases([gauge("web-0", range(-10, 1, 2))], STEP, NOW, HOLD, set())
    assert recalled == {("shop", "web-0", "app"): NOW}


def test_an_empty_answer_recalls_nothing() -> None:
    assert recalled_releases([], STEP, NOW, HOLD, set()) == {}


def test_recalled_releases_join_memory_and_a_later_release_in_memory_stays() -> None:
    releases = RecentReleases(hold=HOLD)
    releases.record(decisions({"shop/web-0/app": "release"}), now=NOW)
    releases.recall({("shop", "web-0", "app"): NOW - 50, ("shop", "db-0", "app"): NOW - 100})
    frame = releases.frame(NOW).sort_values("pod")
    assert frame[["pod", "released"]].to_dict("records") == [
        {"pod": "db-0", "released": NOW - 100},
        {"pod": "web-0", "released": NOW},
    ]
