"""Quoting what an operator wrote, in messages that point at it."""


def quoted(text: str) -> str:
    """``text`` in single quotes as written, unlike ``repr()``: a regex's ``\\d`` stays ``\\d``
    (repr doubles it) and a quote stays in single quotes (repr would switch to double ones).
    Only what would break the message's line (newline, tab, other control characters) is
    escaped."""
    shown = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode() for char in text
    )
    return f"'{shown}'"
