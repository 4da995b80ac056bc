"""promtool's expanding notation for input series: ``'100+0x10 1500x20 _x3 0'``.

Space-separated terms, each expanding to samples at successive evaluation steps:

- ``a``        one sample of value ``a``
- ``a+bxn``    ``n+1`` samples: ``a, a+b, ..., a+n*b`` (``a-bxn`` counts down)
- ``axn``      ``n+1`` samples of ``a`` (short for ``a+0xn``)
- ``_``        no sample at this step (the container is absent)
- ``_xn``      ``n`` steps without a sample

As in promtool, ``100x10`` is eleven samples; ``_x3`` is three gaps.
"""

import math
import re

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TERM = re.compile(
    rf"(?P<start>{_NUMBER})(?:(?P<sign>[-+])(?P<delta>{_NUMBER}))?(?:x(?P<times>\d+))?"
)
_GAPS = re.compile(r"_(?:x(?P<times>\d+))?")
MAX_SAMPLES = 100_000


class SeriesError(ValueError):
    """A series that does not follow the notation; the message names the term."""


def expand(text: str) -> list[float | None]:
    """The samples of ``text``, one per step; None where there is no sample."""
    samples: list[float | None] = []
    for term in str(text).split():
        if gaps := _GAPS.fullmatch(term):
            samples.extend([None] * int(gaps["times"] or 1))
        elif match := _TERM.fullmatch(term):
            start = float(match["start"])
            delta = float(match["delta"] or 0) * (-1 if match["sign"] == "-" else 1)
            count = int(match["times"]) + 1 if match["times"] is not None else 1
            if count > MAX_SAMPLES:
                raise SeriesError(f"term {term!r} expands to more than {MAX_SAMPLES} samples")
            samples.extend(start + delta * step for step in range(count))
        else:
            raise SeriesError(
                f"bad term {term!r}: expected a, a+bxn, a-bxn, axn, _ or _xn (e.g. '100+0x10')"
            )
        if len(samples) > MAX_SAMPLES:
            raise SeriesError(f"series longer than {MAX_SAMPLES} samples")
    if not samples:
        raise SeriesError("empty series")
    if any(value is not None and not math.isfinite(value) for value in samples):
        raise SeriesError("series values must be finite numbers")
    return samples
