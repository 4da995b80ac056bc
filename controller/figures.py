"""How limits, rates and times read to people, shared by alerts and reports."""

import datetime
import math
from collections.abc import Mapping

# Direction name as people say it, unit, and the column of a limit in the frames.
LIMIT_COLUMNS = {
    "read_iops": "limit_read_iops",
    "write_iops": "limit_write_iops",
    "read_bps": "limit_read_bps",
    "write_bps": "limit_write_bps",
}
RATE_COLUMNS = ("read_iops", "write_iops", "read_bps", "write_bps")


def rfc3339(epoch_seconds: float) -> str:
    """UTC time as Go's RFC3339Nano writes it (what Alertmanager echoes): no trailing zeros."""
    moment = datetime.datetime.fromtimestamp(epoch_seconds, datetime.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 time such as ``2026-11-22T12:00:00Z``."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return moment.timestamp()


def format_rate(direction: str, value: float) -> str:
    """``1480 IOPS`` or ``52.4 MB/s``: IOPS as whole numbers, bytes in decimal megabytes."""
    if direction.endswith("_bps"):
        return f"{value / 1e6:.1f} MB/s"
    return f"{value:.0f} IOPS"


def _directions(figures: Mapping[str, float | None]) -> list[str]:
    parts = []
    for direction in RATE_COLUMNS:
        value = figures.get(direction)
        if value is not None and not math.isnan(value):
            parts.append(f"{direction.split('_')[0]} {format_rate(direction, value)}")
    return parts


def format_limits(limits: Mapping[str, float | None]) -> str:
    """``write 500 IOPS, read 20.0 MB/s``; keys are directions (``write_iops``), NaN = none."""
    return ", ".join(_directions(limits)) or "none"


def format_observed(rates: Mapping[str, float | None]) -> str:
    """``read 12 IOPS, write 1480 IOPS, write 52.4 MB/s``; absent or NaN ones left out."""
    return ", ".join(_directions(rates)) or "no data"
