"""Durations written the Prometheus way: ``30s``, ``5m``, ``1h30m``, ``500ms``."""

import re

_MS_PER_UNIT = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
# No setting or rule needs more; beyond it sums overflow floats and timestamps.
MAX_DURATION_DAYS = 36525  # 100 years
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")


class DurationError(ValueError):
    """A duration string that is not of the form ``1h30m``."""


def parse_duration(text: str) -> float:
    """Return the duration in seconds; units d, h, m, s, ms, largest first, each at most once."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not text or match is None or not any(match.groups()):
        raise DurationError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m")
    parts = zip(match.groups(), ("d", "h", "m", "s", "ms"), strict=True)
    # Summed as whole milliseconds in Python ints, which cannot overflow; a number too long
    # to be anything but absurd is refused before int() (which refuses 4300+ digits itself).
    numbers = [(value, unit) for value, unit in parts if value is not None]
    too_long = any(len(value.lstrip("0")) > 15 for value, _ in numbers)
    millis = 0 if too_long else sum(int(value) * _MS_PER_UNIT[unit] for value, unit in numbers)
    if too_long or millis > MAX_DURATION_DAYS * _MS_PER_UNIT["d"]:
        raise DurationError(
            f"invalid duration {text!r}: longer than {MAX_DURATION_DAYS}d (100 years)"
        )
    return millis / 1000


def format_duration(seconds: float) -> str:
    """The shortest ``1h30m``-style text for a whole number of seconds (``0s`` for zero)."""
    remaining = round(seconds)
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _MS_PER_UNIT[unit] // 1000
        if remaining >= size:
            out.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(out) or "0s"
