"""Small decisions frames in the shape interfaces.md gives the engine's output."""

import math
from typing import Any

import pandas as pd

RATES = ("read_iops", "write_iops", "total_iops", "read_bps", "write_bps")


def decision(
    namespace: str,
    pod: str,
    container: str,
    *,
    action: str = "apply",
    rule: str = "sustained-writer",
    group: str = "noisy-neighbours",
    write_iops_limit: float = 500.0,
    write_iops: float = 1480.0,
    node: str = "node-a",
) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "pod": pod,
        "container": container,
        "node": node,
        "action": action,
        "limit_read_iops": math.nan,
        "limit_write_iops": write_iops_limit,
        "limit_read_bps": math.nan,
        "limit_write_bps": math.nan,
        "group": group,
        "rule": rule,
        "severity": "warning",
        "summary": f"{namespace}/{pod} {container} wrote {write_iops:.0f} IOPS for 5m",
        "reason": f"write_iops {write_iops:.0f} > 1000 for 5m",
        "read_iops": 3.0,
        "write_iops": write_iops,
        "total_iops": write_iops + 3.0,
        "read_bps": 12_000.0,
        "write_bps": write_iops * 4096,
    }


def decisions(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def applied(since: float, *rows: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    """When each row's limit was first applied, as the controller's record says: ``since``."""
    return {(row["namespace"], row["pod"], row["container"]): since for row in rows}
