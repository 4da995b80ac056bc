"""The engine's decisions, one behaviour per test (DESIGN.md "Semantics")."""

import math
from pathlib import Path

from controller.engine import EngineOptions, evaluate
from controller.rule_files import load_rules
from tests.controller.engine_frames import (
    NO_APPLIED,
    NO_HISTORY,
    NOW,
    STEP,
    WRITER,
    applied,
    current,
    decision,
    history,
    rules_from,
    steady,
)


def test_for_fires_when_the_condition_held_at_every_step_of_the_window(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER)
    hot = {"write_iops": 1850.0}
    now = current({"a/steady/c": hot, "a/gap/c": hot, "a/late/c": hot, "a/dip/c": hot})
    past = history(
        NOW,
        STEP,
        {
            "a/steady/c": [hot] * 11,
            "a/gap/c": [hot] * 5 + [None] + [hot] * 5,  # absent at one step
            "a/late/c": [hot] * 10,  # history starts 4m30s ago: not 5m yet
            "a/dip/c": [hot] * 3 + [{"write_iops": 900.0}] + [hot] * 7,
        },
    )
    decisions = evaluate(
        rules, now, past, NO_APPLIED, NOW, EngineOptions(max_new_limits_fraction=1)
    )
    assert decision(decisions, "a/steady/c")["action"] == "apply"
    assert decision(decisions, "a/steady/c")["reason"] == (
        "write_iops 1850 > 1000 for 5m (rule noisy/writer)"
    )
    assert decision(decisions, "a/steady/c")["summary"] == "steady wrote 1850 IOPS"
    for key in ("a/gap/c", "a/late/c", "a/dip/c"):
        assert decision(decisions, key)["action"] == "none", key


def test_condition_false_now_does_not_fire_whatever_the_history(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER)
    past = steady(NOW - STEP, STEP, 11, {"a/p/c": {"write_iops": 5000.0}})
    decisions = evaluate(rules, current({"a/p/c": {"write_iops": 10.0}}), past, NO_APPLIED, NOW)
    assert decision(decisions, "a/p/c")["action"] == "none"


def test_rule_without_for_acts_on_the_first_evaluation_without_history(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER.replace("        for: 5m\n", ""))
    decisions = evaluate(
        rules, current({"a/p/c": {"write_iops": 1500.0}}), NO_HISTORY, NO_APPLIED, NOW
    )
    row = decision(decisions, "a/p/c")
    assert (row["action"], row["limit_write_iops"]) == ("apply", 500.0)
    assert row["reason"] == "write_iops 1500 > 1000 (rule noisy/writer)"


TWO_RULES = """
groups:
  - name: first
    rules:
      - name: a
        expr: write_iops > 100
        limit: {write_iops: A_WRITE, read_iops: 100}
  - name: second
    rules:
      - name: b
        expr: write_iops > 100
        severity: critical
        limit: {write_iops: B_WRITE}
"""


def test_strictest_value_per_direction_wins_across_groups(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, TWO_RULES.replace("A_WRITE", "500").replace("B_WRITE", "300"))
    decisions = evaluate(
        rules, current({"a/p/c": {"write_iops": 800.0}}), NO_HISTORY, NO_APPLIED, NOW
    )
    row = decision(decisions, "a/p/c")
    assert (row["limit_write_iops"], row["limit_read_iops"]) == (300.0, 100.0)
    # The first rule in load order that won a direction names the decision; both give reasons.
    assert (row["group"], row["rule"], row["severity"]) == ("first", "a", "warning")
    assert (
        row["reason"] == "write_iops 800 > 100 (rule first/a); write_iops 800 > 100 (rule second/b)"
    )


def test_tie_between_rules_goes_to_the_rule_loaded_first(tmp_path: Path) -> None:
    text = TWO_RULES.replace("A_WRITE", "400").replace("B_WRITE", "400")
    text = text.replace(", read_iops: 100", "")
    (tmp_path / "b.yaml").write_text(text.replace("first", "zfirst"))
    path = tmp_path / "a.yaml"
    path.write_text(
        "groups:\n" + text.split("groups:\n")[1].replace("first", "early").replace("second", "late")
    )
    rules = load_rules(tmp_path)
    decisions = evaluate(
        rules, current({"a/p/c": {"write_iops": 800.0}}), NO_HISTORY, NO_APPLIED, NOW
    )
    row = decision(decisions, "a/p/c")
    assert (row["group"], row["rule"], row["limit_write_iops"]) == ("early", "a", 400.0)
    assert row["reason"] == "write_iops 800 > 100 (rule early/a)"


def test_limit_expressions_are_per_row_rounded_half_up_and_clamped_to_the_floors(
    tmp_path: Path,
) -> None:
    rules = rules_from(
        tmp_path,
        """
        groups:
          - name: g
            rules:
              - name: r
                expr: write_iops > 0
                limit:
                  write_iops: "0.5 * write_iops"
                  read_iops: "write_iops / 0"
                  write_bps: "0.5 * write_bps"
                  read_bps: "1e20 + read_bps"
        """,
    )
    frame = current(
        {
            "a/big/c": {"write_iops": 1001.0, "write_bps": 8e6},
            "a/small/c": {"write_iops": 20.0, "write_bps": 1000.0},
        }
    )
    decisions = evaluate(
        rules, frame, NO_HISTORY, NO_APPLIED, NOW, EngineOptions(max_new_limits_fraction=1)
    )
    big, small = decision(decisions, "a/big/c"), decision(decisions, "a/small/c")
    assert (big["limit_write_iops"], big["limit_write_bps"]) == (501.0, 4e6)
    assert (small["limit_write_iops"], small["limit_write_bps"]) == (50.0, 1048576.0)
    # Division by zero yields infinity: no limit in that direction; huge values hit the ceiling.
    assert math.isnan(float(big["limit_read_iops"]))
    assert big["limit_read_bps"] == 1e13


def test_floor_is_configurable(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 0s").replace("500", "10"))
    decisions = evaluate(
        rules,
        current({"a/p/c": {"write_iops": 2000.0}}),
        NO_HISTORY,
        NO_APPLIED,
        NOW,
        EngineOptions(floor_iops=120),
    )
    assert decision(decisions, "a/p/c")["limit_write_iops"] == 120.0


def test_held_limit_tightens_when_a_stricter_rule_fires_but_never_loosens(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, TWO_RULES.replace("A_WRITE", "500").replace("B_WRITE", "300"))
    limits = applied(
        {
            "a/loose/c": {"write_iops": 800, "rule": "first/a", "changed": NOW - 3600},
            "a/strict/c": {
                "write_iops": 200,
                "read_iops": 50,
                "rule": "first/a",
                "changed": NOW - 3600,
            },
        }
    )
    frame = current({"a/loose/c": {"write_iops": 700.0}, "a/strict/c": {"write_iops": 700.0}})
    decisions = evaluate(rules, frame, NO_HISTORY, limits, NOW)
    loose, strict = decision(decisions, "a/loose/c"), decision(decisions, "a/strict/c")
    assert (loose["action"], loose["limit_write_iops"], loose["limit_read_iops"]) == (
        "update",
        300.0,
        100.0,
    )
    assert (strict["action"], strict["limit_write_iops"], strict["limit_read_iops"]) == (
        "keep",
        200.0,
        50.0,
    )
    assert strict["reason"] == "limit kept, still firing: write_iops 700 > 100 (rule first/a)"


def test_default_release_needs_every_limited_direction_below_half_for_ten_minutes(
    tmp_path: Path,
) -> None:
    rules = rules_from(tmp_path, WRITER)
    limits = applied(
        {
            "a/quiet/c": {"write_iops": 500, "rule": "noisy/writer", "changed": NOW - 7200},
            "a/reads/c": {
                "write_iops": 500,
                "read_iops": 100,
                "rule": "noisy/writer",
                "changed": NOW - 7200,
            },
            "a/recent/c": {"write_iops": 500, "rule": "noisy/writer", "changed": NOW - 7200},
        }
    )
    quiet = {"write_iops": 100.0, "read_iops": 90.0}
    frame = current({"a/quiet/c": quiet, "a/reads/c": quiet, "a/recent/c": quiet})
    past = history(
        NOW,
        STEP,
        {
            "a/quiet/c": [quiet] * 21,
            "a/reads/c": [quiet] * 21,  # reads 90 of a 100 limit: not below half
            "a/recent/c": [{"write_iops": 400.0}] * 2 + [quiet] * 19,  # quiet for 9m30s only
        },
    )
    decisions = evaluate(rules, frame, past, limits, NOW)
    row = decision(decisions, "a/quiet/c")
    assert row["action"] == "release"
    assert math.isnan(float(row["limit_write_iops"]))
    assert row["reason"] == "released: write_iops 100 < 50% of limit 500 for 10m"
    assert decision(decisions, "a/reads/c")["action"] == "keep"
    assert decision(decisions, "a/reads/c")["reason"] == (
        "limit kept, release needs write_iops 100 < 50% of limit 500, "
        "read_iops 90 < 50% of limit 100 for 10m"
    )
    assert decision(decisions, "a/recent/c")["action"] == "keep"


def test_release_then_reapply_when_the_container_gets_noisy_again(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 1m"))
    limits = applied({"a/p/c": {"write_iops": 500, "rule": "noisy/writer", "changed": NOW - 7200}})
    quiet, hot = {"write_iops": 100.0}, {"write_iops": 3000.0}
    released = evaluate(
        rules, current({"a/p/c": quiet}), steady(NOW, STEP, 21, {"a/p/c": quiet}), limits, NOW
    )
    assert decision(released, "a/p/c")["action"] == "release"
    later = NOW + 120
    past = history(later, STEP, {"a/p/c": [quiet] * 17 + [hot] * 3})
    again = evaluate(rules, current({"a/p/c": hot}), past, NO_APPLIED, later)
    assert decision(again, "a/p/c")["action"] == "apply"


def test_release_waits_while_a_rule_still_fires(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        WRITER.replace("write_iops > 1000", "read_iops > 10").replace("for: 5m", "for: 0s")
        + "    release: {expr: write_iops < 1000}\n",
    )
    limits = applied({"a/p/c": {"write_iops": 500, "rule": "noisy/writer", "changed": NOW - 7200}})
    decisions = evaluate(rules, current({"a/p/c": {"read_iops": 50.0}}), NO_HISTORY, limits, NOW)
    assert decision(decisions, "a/p/c")["action"] == "keep"


def test_group_release_expression_and_window_are_used(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        WRITER + "    release: {expr: write_iops < 0.9 * limit_write_iops, for: 1m}\n",
    )
    limits = applied({"a/p/c": {"write_iops": 500, "rule": "noisy/writer", "changed": NOW - 7200}})
    past = steady(NOW, STEP, 3, {"a/p/c": {"write_iops": 400.0}})
    decisions = evaluate(rules, current({"a/p/c": {"write_iops": 400.0}}), past, limits, NOW)
    row = decision(decisions, "a/p/c")
    assert (row["action"], row["reason"]) == (
        "release",
        "released: write_iops 400 < 0.9 * limit_write_iops 500 for 1m",
    )


def test_minimum_hold_delays_updates_and_releases(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, TWO_RULES.replace("A_WRITE", "500").replace("B_WRITE", "300"))
    limits = applied(
        {
            "a/tighten/c": {"write_iops": 800, "rule": "first/a", "changed": NOW - 120},
            "a/quiet/c": {"write_iops": 800, "rule": "first/a", "changed": NOW - 120},
        }
    )
    quiet = {"write_iops": 10.0}
    frame = current({"a/tighten/c": {"write_iops": 700.0}, "a/quiet/c": quiet})
    past = steady(NOW, STEP, 21, {"a/quiet/c": quiet})
    decisions = evaluate(rules, frame, past, limits, NOW, EngineOptions(min_hold=300))
    tighten, released = decision(decisions, "a/tighten/c"), decision(decisions, "a/quiet/c")
    assert (tighten["action"], tighten["limit_write_iops"]) == ("keep", 800.0)
    assert str(tighten["reason"]).startswith("min hold 5m: last change 2m ago; would update: ")
    assert (released["action"], released["limit_write_iops"]) == ("keep", 800.0)
    assert released["reason"] == (
        "min hold 5m: last change 2m ago; would release: write_iops 10 < 50% of limit 800 for 10m"
    )
    after = evaluate(rules, frame, past, limits, NOW + 200, EngineOptions(min_hold=300))
    assert decision(after, "a/tighten/c")["action"] == "update"


def test_blast_radius_cap_admits_the_most_demanding_pods_and_holds_back_the_rest(
    tmp_path: Path,
) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 0s"))
    rates = {f"a/p{i}/c": {"write_iops": 10.0} for i in range(10)}
    rates |= {"a/p1/c": {"write_iops": 2000.0}, "a/p2/c": {"write_iops": 4000.0}}
    rates |= {"a/p3/c": {"write_iops": 3000.0}, "a/p4/c": {"write_iops": 1500.0}}
    decisions = evaluate(
        rules,
        current(rates),
        NO_HISTORY,
        NO_APPLIED,
        NOW,
        EngineOptions(max_new_limits_fraction=0.2),
    )
    actions = {f"p{i}": decision(decisions, f"a/p{i}/c")["action"] for i in range(1, 5)}
    assert actions == {"p1": "none", "p2": "apply", "p3": "apply", "p4": "none"}
    held = decision(decisions, "a/p1/c")
    assert math.isnan(float(held["limit_write_iops"]))
    assert held["reason"] == (
        "held back by the blast-radius cap (2 new pods per evaluation: 0.2 of 10 selected pods); "
        "would apply: write_iops 2000 > 1000 (rule noisy/writer)"
    )


def test_blast_radius_cap_allows_at_least_one_pod_and_counts_pods_not_containers(
    tmp_path: Path,
) -> None:
    rules = rules_from(tmp_path, WRITER.replace("for: 5m", "for: 0s"))
    hot = {"write_iops": 2000.0}
    frame = current({"a/p1/x": hot, "a/p1/y": hot, "a/p2/x": hot})
    decisions = evaluate(
        rules, frame, NO_HISTORY, NO_APPLIED, NOW, EngineOptions(max_new_limits_fraction=0.2)
    )
    assert list(decisions["action"]) == ["apply", "apply", "none"]


def test_selection_excludes_namespaces_containers_and_pods_before_anything_else(
    tmp_path: Path,
) -> None:
    rules = rules_from(
        tmp_path,
        WRITER.replace(
            "    rules:\n",
            "    select:\n"
            "      namespaces: [team-a, team-b]\n"
            "      excludeNamespaces: [team-b]\n"
            "      podSelector: 'tier notin (database), !canary'\n"
            "      excludeContainers: ['^istio-proxy$']\n"
            "    rules:\n",
            1,
        ).replace("for: 5m", "for: 0s"),
    )
    hot = {"write_iops": 2000.0}
    keys = [
        "team-a/web/app",
        "team-a/web/istio-proxy",
        "team-a/db/app",
        "team-a/canary/app",
        "team-b/web/app",
        "team-c/web/app",
        "team-a/nolabels/app",
    ]
    labels = {
        "team-a/web": {"tier": "web"},
        "team-a/db": {"tier": "database"},
        "team-a/canary": {"tier": "web", "canary": "yes"},
    }
    decisions = evaluate(
        rules,
        current(dict.fromkeys(keys, hot), labels),
        NO_HISTORY,
        NO_APPLIED,
        NOW,
        EngineOptions(max_new_limits_fraction=1),
    )
    chosen = [key for key in keys if decision(decisions, key)["action"] == "apply"]
    assert chosen == ["team-a/web/app", "team-a/nolabels/app"]
