import math
from collections.abc import Sequence

import pandas as pd

from controller.alerts import (
    DEGRADED_ALERT,
    LIMIT_ALERT,
    Alert,
    AlertBook,
    Alerting,
    degraded_alerts,
    fingerprint,
    limit_alerts,
    make_alert,
)
from controller.figures import rfc3339
from tests.controller.decision_frames import applied, decision, decisions

NOW = 1_800_000_000.0


def test_fingerprint_equals_the_one_a_real_alertmanager_reported() -> None:
    # Alertmanager 0.25 delivered this alert with fingerprint f3d410fada54942d.
    labels = {
        "alertname": "IOPSLimitApplied",
        "rule": "sustained-writer",
        "group": "noisy",
        "namespace": "team-a",
        "pod": "p1",
        "container": "c1",
        "node": "n1",
        "severity": "warning",
    }
    assert fingerprint(labels) == "f3d410fada54942d"
    assert fingerprint({}) == "cbf29ce484222325"  # FNV-1a 64 offset basis: nothing hashed


def test_limit_alert_carries_rule_labels_summary_and_description() -> None:
    frame = decisions(decision("team-a", "writer-0", "app", action="keep"))
    (alert,) = limit_alerts(frame, {("team-a", "writer-0", "app"): NOW - 600}, NOW)
    assert alert.labels == {
        "alertname": LIMIT_ALERT,
        "rule": "sustained-writer",
        "group": "noisy-neighbours",
        "severity": "warning",
        "namespace": "team-a",
        "pod": "writer-0",
        "container": "app",
        "node": "node-a",
    }
    assert alert.starts_at == NOW - 600
    assert alert.annotations["summary"] == "team-a/writer-0 app wrote 1480 IOPS for 5m"
    description = alert.annotations["description"]
    assert "write_iops 1480 > 1000 for 5m" in description
    assert "Limit: write 500 IOPS" in description
    assert rfc3339(NOW - 600) in description


def test_only_rule_limited_containers_alert() -> None:
    frame = decisions(
        decision("a", "new", "c", action="apply"),
        decision("a", "changed", "c", action="update"),
        decision("a", "released", "c", action="release"),
        decision("a", "quiet", "c", action="none", write_iops_limit=math.nan),
        decision("a", "by-hand", "c", action="keep", rule="", group=""),
    )
    pods = sorted(alert.labels["pod"] for alert in limit_alerts(frame, {}, NOW))
    assert pods == ["changed", "new"]


def test_empty_node_label_is_left_out_as_alertmanager_would_drop_it() -> None:
    frame = decisions(decision("a", "p", "c", node=""))
    (alert,) = limit_alerts(frame, {}, NOW)
    assert "node" not in alert.labels
    assert alert.starts_at == NOW  # limited this cycle


def test_api_body_has_rfc3339_times_and_no_end_when_open() -> None:
    alert = make_alert({"alertname": "X"}, {"summary": "s"}, 1_800_000_000.25)
    assert alert.to_api() == {
        "labels": {"alertname": "X"},
        "annotations": {"summary": "s"},
        "startsAt": "2027-01-15T08:00:00.25Z",
    }


def test_book_keeps_first_start_and_pushes_end_ahead() -> None:
    book = AlertBook(valid_for=120)
    first = degraded_alerts({"prometheus": "connection refused"}, NOW)
    book.update(first, NOW)
    (again,) = book.update(
        degraded_alerts({"prometheus": "connection refused"}, NOW + 30), NOW + 30
    )
    assert again.labels["alertname"] == DEGRADED_ALERT
    assert again.starts_at == NOW
    assert again.ends_at == NOW + 150
    assert not again.resolved_at(NOW + 30)


def test_book_resolves_what_stopped_and_forgets_it_after_retention() -> None:
    book = AlertBook(valid_for=120, resolved_retention=300)
    book.update(degraded_alerts({"rules": "bad.yaml:3: unknown key"}, NOW), NOW)
    (resolved,) = book.update([], NOW + 30)
    assert resolved.ends_at == NOW + 30
    assert resolved.resolved_at(NOW + 30)
    assert book.update([], NOW + 200) == [resolved]  # re-sent while within retention
    assert book.update([], NOW + 400) == []


def test_book_refiring_alert_is_not_also_sent_resolved() -> None:
    book = AlertBook(valid_for=120)
    alert = degraded_alerts({"rules": "x"}, NOW)
    book.update(alert, NOW)
    book.update([], NOW + 30)
    batch = book.update(degraded_alerts({"rules": "x"}, NOW + 60), NOW + 60)
    assert len(batch) == 1
    assert not batch[0].resolved_at(NOW + 60)


def test_no_decisions_yet_gives_no_limit_alerts() -> None:
    assert limit_alerts(pd.DataFrame(columns=["action", "rule"]), {}, NOW) == []


def test_since_of_a_new_limit_is_remembered_until_the_applied_frame_has_it() -> None:
    sent: list[list[Alert]] = []

    class Collect:
        def send(self, alerts: Sequence[Alert]) -> None:
            sent.append(list(alerts))

    alerting = Alerting(Collect(), valid_for=120)
    alerting.publish(decisions(decision("a", "p", "c")), {}, {}, NOW)
    alerting.publish(decisions(decision("a", "p", "c", action="keep")), {}, {}, NOW + 30)
    assert [batch[0].starts_at for batch in sent] == [NOW, NOW]
    assert sent[0][0].annotations == sent[1][0].annotations
    recorded = applied(NOW - 5, decision("a", "p", "c"))
    alerting.publish(decisions(decision("a", "p", "c", action="keep")), recorded, {}, NOW + 60)
    assert sent[2][0].starts_at == NOW - 5


def test_dry_run_limit_alerts_say_so_in_a_label() -> None:
    sent: list[list[Alert]] = []

    class Collect:
        def send(self, alerts: Sequence[Alert]) -> None:
            sent.append(list(alerts))

    Alerting(Collect(), valid_for=120, dry_run=True).publish(
        decisions(decision("a", "p", "c")), {}, {"rules": "bad.yaml:1: x"}, NOW
    )
    labels = {alert.labels["alertname"]: alert.labels for alert in sent[0]}
    assert labels[LIMIT_ALERT]["dry_run"] == "true"
    assert "dry_run" not in labels[DEGRADED_ALERT]


def test_a_row_without_node_or_summary_keeps_the_alert_it_belongs_to() -> None:
    sent: list[list[Alert]] = []

    class Collect:
        def send(self, alerts: Sequence[Alert]) -> None:
            sent.append(list(alerts))

    alerting = Alerting(Collect(), valid_for=120)
    alerting.publish(decisions(decision("a", "p", "c")), {}, {}, NOW)
    # Prometheus had no data for the container: the engine keeps the limit, with less detail.
    bare = dict(decision("a", "p", "c", action="keep", node=""), summary="", severity="")
    alerting.publish(decisions(bare), {}, {}, NOW + 30)
    first, second = sent
    assert [alert.fingerprint for alert in second] == [first[0].fingerprint]
    assert second[0].labels["node"] == "node-a"
    assert second[0].annotations["summary"] == first[0].annotations["summary"]
