"""Summary templates: ``"{namespace}/{pod} wrote {write_iops:.0f} IOPS"`` rendered per row.

Placeholders must name a frame column and may carry a format spec; nothing else (no
attribute or index lookups, no positional ``{}``), so a template cannot reach Python objects.
"""

import re
import string
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controller.frames import EXPRESSION_COLUMNS, NUMBER_COLUMNS

Strings = npt.NDArray[np.object_]
# A format spec like {pod:999999999} would build a gigabyte string per row.
MAX_WIDTH = 64


class TemplateError(ValueError):
    """A summary template with a bad placeholder; the message names it."""


@dataclass(frozen=True)
class _Part:
    literal: str
    column: str  # "" after the last placeholder
    spec: str


@dataclass(frozen=True)
class SummaryTemplate:
    source: str
    parts: tuple[_Part, ...]

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(part.column for part in self.parts if part.column)

    def render(self, columns: dict[str, npt.NDArray[np.generic]], length: int) -> Strings:
        """One string per row; ``columns`` holds every column the template names."""
        result = np.full(length, "", dtype=object)
        for part in self.parts:
            if part.literal:
                result += part.literal
            if part.column:
                spec = part.spec
                values = columns[part.column].tolist()
                result += np.array([format(value, spec) for value in values], dtype=object)
        return result


def parse_summary(text: str) -> SummaryTemplate:
    """Check ``text``; raise :class:`TemplateError` for the first bad placeholder."""
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as error:
        raise TemplateError(f"invalid template: {error}") from None
    parts: list[_Part] = []
    for literal, field, spec, conversion in pieces:
        if field is None:
            parts.append(_Part(literal, "", ""))
            continue
        shown = _as_written(field, conversion, spec)
        if field not in EXPRESSION_COLUMNS:
            raise TemplateError(
                f"placeholder {shown} must name a frame column ({', '.join(EXPRESSION_COLUMNS)})"
            )
        if conversion is not None or "{" in (spec or ""):
            raise TemplateError(f"placeholder {shown}: only a plain format spec is allowed")
        if any(int(number) > MAX_WIDTH for number in re.findall(r"\d+", spec or "")):
            raise TemplateError(f"placeholder {shown}: width and precision are at most {MAX_WIDTH}")
        sample: object = 1.5 if field in NUMBER_COLUMNS else "text"
        try:
            format(sample, spec or "")
        except ValueError as error:
            raise TemplateError(f"placeholder {shown}: {error}") from None
        parts.append(_Part(literal, field, spec or ""))
    return SummaryTemplate(text, tuple(parts))


def _as_written(field: str, conversion: str | None, spec: str | None) -> str:
    """The placeholder as the operator wrote it, ``{pod!r}`` included (a message showing
    ``{pod}`` would point at something that is not in the file)."""
    written = "!" + conversion if conversion else ""
    written += ":" + spec if spec else ""
    return "{" + field + written + "}"
