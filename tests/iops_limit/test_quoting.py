from iops_limit.quoting import quoted


def test_quoted_keeps_backslashes_and_quotes_as_written() -> None:
    assert quoted(r"^istio-\d+(") == r"'^istio-\d+('"
    assert quoted("it's") == "'it's'"


def test_quoted_escapes_what_would_break_the_line() -> None:
    assert quoted("data\nbase\t") == r"'data\nbase\t'"
