import pytest

from iops_limit.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("500ms", 0.5), ("1m30s", 90)],
)
def test_parse_duration_reads_prometheus_style_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "1m1h", "-5m", "5 m", "1.5m", "5m5m"])
def test_parse_duration_rejects_malformed_text_naming_it(text: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (90, "1m30s"), (5400, "1h30m")])
def test_format_duration_is_the_inverse_for_whole_seconds(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["99999999999h", "36526d", "9" * 400 + "d", "9" * 5000 + "s"])
def test_parse_duration_rejects_absurdly_long_durations_without_overflow(text: str) -> None:
    with pytest.raises(DurationError, match=r"longer than 36525d \(100 years\)$"):
        parse_duration(text)


def test_parse_duration_accepts_the_longest_duration() -> None:
    assert parse_duration("36525d") == 36525 * 86400
