import pytest

from controller.series_notation import SeriesError, expand


@pytest.mark.parametrize(
    ("text", "samples"),
    [
        ("5", [5.0]),
        ("100x3", [100.0, 100.0, 100.0, 100.0]),
        ("1+1x3", [1.0, 2.0, 3.0, 4.0]),
        ("10-2x2", [10.0, 8.0, 6.0]),
        ("1 _ 2", [1.0, None, 2.0]),
        ("_x3 7", [None, None, None, 7.0]),
        ("1.5e3x1 -1", [1500.0, 1500.0, -1.0]),
    ],
)
def test_expanding_notation_follows_promtool(text: str, samples: list[float | None]) -> None:
    assert expand(text) == samples


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty series"),
        ("1x", "bad term '1x'"),
        ("abc", "bad term 'abc'"),
        ("1+x3", "bad term '1+x3'"),
        ("1x100000", "expands to more than 100000 samples"),
    ],
)
def test_bad_series_are_rejected_naming_the_term(text: str, message: str) -> None:
    with pytest.raises(SeriesError, match=message.replace("+", r"\+")):
        expand(text)
