import pandas as pd

from controller.releases import RecentReleases


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
