"""A rule that fires but yields no limit says so (DESIGN: no silent none)."""

from pathlib import Path

from controller.engine import evaluate
from tests.controller.engine_frames import applied, current, decision, history, rules_from

NOW = 1_000_000.0


def test_a_limit_expression_that_is_nan_on_every_matching_row_gives_a_reason(
    tmp_path: Path,
) -> None:
    # No limit is applied, so limit_write_iops is NaN and so is the whole limit expression.
    rules = rules_from(
        tmp_path,
        """
        groups:
          - name: g
            rules:
              - name: r
                expr: write_iops > 1000
                limit: {write_iops: "0.5 * limit_write_iops"}
        """,
    )
    frame = current({"a/hot/c": {"write_iops": 1850.0}, "a/cold/c": {"write_iops": 10.0}})
    decisions = evaluate(rules, frame, history(NOW, 30.0, {}), applied({}), NOW)
    hot = decision(decisions, "a/hot/c")
    assert hot["action"] == "none"
    assert hot["reason"] == (
        "write_iops 1850 > 1000 (rule g/r) fired, but its limit "
        "(write_iops: '0.5 * limit_write_iops') is not a number here: no limit set"
    )
    assert decision(decisions, "a/cold/c")["reason"] == ""
