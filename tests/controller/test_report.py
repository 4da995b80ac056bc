import dataclasses
import json

from controller.alerts import fingerprint
from controller.report import render_alertmanager, render_json, render_markdown, render_text
from tests.controller.report_records import NOW, RELEASED, REPORT, WRITER


def test_text_groups_by_rule_then_namespace_with_a_persons_limits_last() -> None:
    text = render_text(REPORT)
    headings = [line for line in text.splitlines() if line.startswith("==")]
    assert headings == [
        "== noisy-neighbours/hot-reader (1 in force, 0 released)",
        "== noisy-neighbours/sustained-writer (2 in force, 1 released)",
        "== set by a person (1 in force, 0 released)",
    ]
    writer_section = text.split("== noisy-neighbours/sustained-writer")[1].split("==")[0]
    assert writer_section.index("namespace team-a") < writer_section.index("namespace team-b")
    # In force before released within a namespace.
    assert writer_section.index("writer-0/app") < writer_section.index("batch-1/job")


def test_text_shows_limit_since_observed_figures_and_reason() -> None:
    text = render_text(REPORT)
    assert "writer-0/app on node-a: write 500 IOPS\n" in text
    assert "since 2027-01-15T07:00:00Z (1h ago)" in text
    assert "observed now: read 3 IOPS, write 498 IOPS, read 0.0 MB/s, write 2.0 MB/s" in text
    assert "at decision:  write 1480 IOPS, write 6.1 MB/s" in text
    assert "reason: write_iops 1480 > 1000 for 5m" in text
    assert "batch-1/job on node-a: write 500 IOPS  [released]" in text
    assert "released 2027-01-15T06:30:00Z (1h30m ago)" in text
    assert "backup-0/restic on node-c: write 20.0 MB/s" in text
    assert "since an unknown time" in text
    assert "4 in force, 1 released" in text.splitlines()[0]


def test_empty_report_says_so() -> None:
    empty = type(REPORT)(records=[], now=NOW, window=3600.0)
    assert "No limits." in render_text(empty)
    assert json.loads(render_json(empty))["rules"] == []


def test_markdown_has_a_table_per_namespace_under_each_rule() -> None:
    markdown = render_markdown(REPORT)
    lines = markdown.splitlines()
    assert "## noisy-neighbours/sustained-writer" in lines
    assert "### team-b" in lines
    row = next(line for line in lines if line.startswith("| writer-0 "))
    cells = [cell.strip() for cell in row.strip("|").split(" | ")]
    assert cells[:4] == ["writer-0", "app", "node-a", "write 500 IOPS"]
    assert cells[-1] == "write_iops 1480 > 1000 for 5m"


def test_json_nests_rules_namespaces_and_limits() -> None:
    document = json.loads(render_json(REPORT))
    assert document["generatedAt"] == "2027-01-15T08:00:00Z"
    assert document["window"] == "1d"
    assert [rule["rule"] for rule in document["rules"]] == [
        "noisy-neighbours/hot-reader",
        "noisy-neighbours/sustained-writer",
        "set by a person",
    ]
    writer = document["rules"][1]
    assert [ns["namespace"] for ns in writer["namespaces"]] == ["team-a", "team-b"]
    released = writer["namespaces"][0]["limits"][1]
    assert released["pod"] == "batch-1"
    assert released["inForce"] is False
    assert released["released"] == "2027-01-15T06:30:00Z"
    assert writer["namespaces"][0]["limits"][0]["observedAtDecision"]["write_iops"] == 1480.0


def test_alertmanager_format_groups_rule_limits_and_resolves_released_ones() -> None:
    payloads = json.loads(
        render_alertmanager(
            REPORT,
            group_by=("alertname", "group", "rule"),
            receiver="ops",
            external_url="http://alertmanager.example:9093",
        )
    )
    assert [p["groupLabels"]["rule"] for p in payloads] == ["hot-reader", "sustained-writer"]
    writers = payloads[1]
    assert writers["groupKey"] == (
        '{}:{alertname="IOPSLimitApplied", group="noisy-neighbours", rule="sustained-writer"}'
    )
    assert writers["status"] == "firing"
    assert writers["receiver"] == "ops"
    by_pod = {alert["labels"]["pod"]: alert for alert in writers["alerts"]}
    assert by_pod["batch-1"]["status"] == "resolved"
    assert by_pod["batch-1"]["endsAt"] == "2027-01-15T06:30:00Z"
    assert by_pod["writer-0"]["endsAt"] == "0001-01-01T00:00:00Z"
    assert by_pod["writer-0"]["fingerprint"] == fingerprint(by_pod["writer-0"]["labels"])
    assert "namespace" not in writers["commonLabels"]  # team-a and team-b: not common
    assert writers["commonLabels"]["rule"] == "sustained-writer"
    # A person's limit raises no alert of ours.
    assert all(alert["labels"]["pod"] != "backup-0" for p in payloads for alert in p["alerts"])


def test_alertmanager_format_keys_groups_under_a_child_route() -> None:
    payloads = json.loads(
        render_alertmanager(
            REPORT,
            group_by=("alertname", "rule"),
            receiver="ops",
            external_url="",
            route_key='{}/{alertname="IOPSLimitApplied"}',
        )
    )
    assert payloads[0]["groupKey"] == (
        '{}/{alertname="IOPSLimitApplied"}:{alertname="IOPSLimitApplied", rule="hot-reader"}'
    )


def test_alertmanager_format_resolves_a_released_limit_whose_gauge_reaches_past_now() -> None:
    """The gauge's last step can land a millisecond after the report's ``now`` (the range
    query's start is rounded); a limit no longer in force is resolved all the same."""
    late = dataclasses.replace(RELEASED, released=NOW + 0.0004)
    report = dataclasses.replace(REPORT, records=[late])
    (payload,) = json.loads(
        render_alertmanager(report, group_by=("alertname", "rule"), receiver="ops", external_url="")
    )
    (alert,) = payload["alerts"]
    assert (payload["status"], alert["status"]) == ("resolved", "resolved")
    assert alert["endsAt"] == "2027-01-15T08:00:00Z"


def test_alertmanager_format_keeps_one_alert_for_a_limit_released_and_set_again() -> None:
    """Alertmanager keeps one alert per label set: the episode in force stands for both."""
    earlier = dataclasses.replace(WRITER, since=NOW - 7200, released=NOW - 5400)
    report = dataclasses.replace(REPORT, records=[earlier, WRITER])
    (payload,) = json.loads(
        render_alertmanager(report, group_by=("alertname", "rule"), receiver="ops", external_url="")
    )
    (alert,) = payload["alerts"]
    assert alert["status"] == "firing"
