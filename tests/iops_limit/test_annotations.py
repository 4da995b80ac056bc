"""Annotation values and keys: strict parsing, precedence, rejection of the whole pod."""

import pytest

from iops_limit.annotations import (
    MAX_BPS,
    MAX_IOPS,
    ContainerLimits,
    InvalidLimit,
    format_value,
    is_annotated,
    parse_pod_limits,
)

CONTAINERS = ("app", "mysql")

HOSTILE_VALUES = [
    "",
    " ",
    " 100",
    "100 ",
    "1 00",
    "100\n",
    "\n100",
    "100\r\n",
    "100\n254:0 1",
    "254:0 1",
    "100\x00",
    "\x00",
    "100\t",
    "+100",
    "-100",
    "-0",
    "+0",
    "1e3",
    "1E3",
    "1.5",
    "100.",
    ".5",
    "0x64",
    "0X64",
    "0o144",
    "0b1100100",
    "1_000",
    "1,000",
    "007",
    "00",
    "\u0661\u0660\u0660",  # Arabic-Indic digits
    "\uff11\uff10\uff10",  # fullwidth digits
    "\u0967\u0966\u0966",  # Devanagari digits
    "\u00b2",  # superscript two: str.isdigit() says yes
    "inf",
    "nan",
    "Infinity",
    "Unlimited",
    "UNLIMITED",
    "unlimited ",
    "none",
    "null",
    "true",
    "max",
    "100k",
    "100Mi",
    "100iops",
    "1000000001",  # just over the IOPS maximum
    "99999999999999999999999999999999",
    "9" * 5000,  # beyond Python's int-string limit: must not raise ValueError from int()
    "$(reboot)",
    "100;200",
    "../100",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize("key", ["iops-limit/write-iops", "iops-limit/limit.mysql"])
def test_hostile_value_rejects_the_pod_naming_key_and_value(key: str, value: str) -> None:
    with pytest.raises(InvalidLimit) as raised:
        parse_pod_limits({key: value, "iops-limit/read-iops": "100"}, CONTAINERS)
    assert raised.value.key == key
    assert raised.value.value == value
    assert key in str(raised.value)


def test_there_are_at_least_forty_hostile_values() -> None:
    assert len(set(HOSTILE_VALUES)) >= 40


@pytest.mark.parametrize("value", ["10000000000001", "100000000000000"])
def test_bps_over_ten_to_the_thirteen_is_out_of_range(value: str) -> None:
    with pytest.raises(InvalidLimit, match="out of range"):
        parse_pod_limits({"iops-limit/write-bps": value}, CONTAINERS)


def test_range_edges_are_accepted() -> None:
    limits = parse_pod_limits(
        {
            "iops-limit/read-iops": "1",
            "iops-limit/write-iops": str(MAX_IOPS),
            "iops-limit/read-bps": "1",
            "iops-limit/write-bps": str(MAX_BPS),
        },
        ["app"],
    )
    assert limits["app"] == ContainerLimits(1, MAX_IOPS, 1, MAX_BPS)


@pytest.mark.parametrize("value", ["0", "unlimited"])
def test_zero_and_unlimited_mean_no_limit(value: str) -> None:
    limits = parse_pod_limits({"iops-limit/write-iops": value}, ["app"])
    assert limits["app"] == ContainerLimits()
    assert limits["app"].is_unlimited()


def test_pod_wide_limit_sets_read_and_write_iops_only() -> None:
    limits = parse_pod_limits({"iops-limit/limit": "300"}, CONTAINERS)
    assert limits == {
        "app": ContainerLimits(read_iops=300, write_iops=300),
        "mysql": ContainerLimits(read_iops=300, write_iops=300),
    }


def test_most_specific_key_wins_per_container_and_direction() -> None:
    annotations = {
        "iops-limit/limit": "1000",
        "iops-limit/write-iops": "800",
        "iops-limit/limit.mysql": "600",
        "iops-limit/write-iops.mysql": "400",
        "iops-limit/read-bps": "5000000",
        "iops-limit/write-bps.app": "7000000",
    }
    limits = parse_pod_limits(annotations, CONTAINERS)
    assert limits["app"] == ContainerLimits(
        read_iops=1000, write_iops=800, read_bps=5000000, write_bps=7000000
    )
    assert limits["mysql"] == ContainerLimits(read_iops=600, write_iops=400, read_bps=5000000)


def test_pod_wide_direction_beats_container_limit_only_when_no_container_key() -> None:
    # limit.<container> beats <dir>: the container-specific key is the more specific one.
    limits = parse_pod_limits(
        {"iops-limit/write-iops": "800", "iops-limit/limit.app": "200"}, CONTAINERS
    )
    assert limits["app"] == ContainerLimits(read_iops=200, write_iops=200)
    assert limits["mysql"] == ContainerLimits(write_iops=800)


def test_specific_unlimited_lifts_a_pod_wide_limit() -> None:
    limits = parse_pod_limits(
        {"iops-limit/limit": "300", "iops-limit/write-iops.mysql": "unlimited"}, CONTAINERS
    )
    assert limits["mysql"] == ContainerLimits(read_iops=300)


def test_no_annotations_means_no_limits_for_every_container() -> None:
    assert parse_pod_limits({"team": "a"}, CONTAINERS) == {
        "app": ContainerLimits(),
        "mysql": ContainerLimits(),
    }


def test_bookkeeping_and_foreign_keys_are_ignored() -> None:
    annotations = {
        "iops-limit/managed-by": "iops-controller",
        "iops-limit/rule": "noisy/sustained-writer",
        "iops-limit/since": "2026-01-01T00:00:00Z",
        "iops-limit/reason": "wrote 5000 IOPS for 5m",
        "iops-limit/exempt": "true",
        "iops-limit/owner-note": "ask team a",
        "example.com/write-iops": "not ours",
        "iops-limit/write-iops": "100",
    }
    assert parse_pod_limits(annotations, ["app"])["app"] == ContainerLimits(write_iops=100)


@pytest.mark.parametrize(
    "key",
    [
        "iops-limit/write-iop",
        "iops-limit/Write-IOPS",
        "iops-limit/write_iops",
        "iops-limit/writeiops",
        "iops-limit/wirte-iops",
        "iops-limit/read-bytes",
        "iops-limit/limits",
        "iops-limit/lmit",
        "iops-limit/write-iops.",
        "iops-limit/write-iops.My_App",
        "iops-limit/write-iops.app/x",
        "iops-limit/write-iops.nginx",
        "iops-limit/limit.app.extra",
    ],
)
def test_misspelt_or_misdirected_limit_key_rejects_the_pod(key: str) -> None:
    with pytest.raises(InvalidLimit) as raised:
        parse_pod_limits({key: "100"}, ["app"])
    assert raised.value.key == key


def test_misspelt_key_error_suggests_the_right_key() -> None:
    with pytest.raises(InvalidLimit, match="did you mean iops-limit/write-iops"):
        parse_pod_limits({"iops-limit/write-iop": "100"}, ["app"])


def test_error_message_quotes_a_newline_value_visibly() -> None:
    with pytest.raises(InvalidLimit) as raised:
        parse_pod_limits({"iops-limit/limit": "1\n254:0 0"}, ["app"])
    assert "\n" not in str(raised.value)
    assert "\\n" in str(raised.value)


def test_error_message_cuts_a_huge_value_short() -> None:
    with pytest.raises(InvalidLimit) as raised:
        parse_pod_limits({"iops-limit/limit": "x" * 100_000}, ["app"])
    assert len(str(raised.value)) < 300


def test_is_annotated_sees_explicit_unlimited_and_ignores_other_containers() -> None:
    annotations = {"iops-limit/write-iops.mysql": "0"}
    assert is_annotated(annotations, "mysql")
    assert not is_annotated(annotations, "app")
    assert is_annotated({"iops-limit/limit": "unlimited"}, "app")
    assert not is_annotated({"iops-limit/reason": "x"}, "app")


@pytest.mark.parametrize(("value", "text"), [(None, "unlimited"), (1, "1"), (500, "500")])
def test_format_value_round_trips(value: int | None, text: str) -> None:
    assert format_value(value) == text
    parsed = parse_pod_limits({"iops-limit/write-iops": text}, ["app"])["app"].write_iops
    assert parsed == value


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_format_value_refuses_what_is_not_a_limit(value: object) -> None:
    with pytest.raises(ValueError):
        format_value(value)  # type: ignore[arg-type]


def test_a_bad_value_under_an_overridden_key_still_rejects_the_pod() -> None:
    annotations = {
        "iops-limit/limit": "1e3",
        "iops-limit/read-iops": "100",
        "iops-limit/write-iops": "100",
    }
    with pytest.raises(InvalidLimit) as raised:
        parse_pod_limits(annotations, ["app"])
    assert raised.value.key == "iops-limit/limit"
