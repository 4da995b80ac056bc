"""The node writer's settings as parsed at start-up, from the environment and flags."""

import argparse

import pytest

from iops_limit.settings import SettingsError, add_arguments, from_args
from node_writer.settings import NodeWriterSettings


def parse(environ: dict[str, str]) -> NodeWriterSettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser, NodeWriterSettings)
    return from_args(NodeWriterSettings, parser.parse_args([]), {"NODE_NAME": "n", **environ})


@pytest.mark.parametrize(
    "value",
    [
        "99999999999999999999",
        "1000000001",
        "\u0661\u0660\u0660",  # Arabic-Indic digits: int() reads them as 100
        " 1_0 ",
        "1_000",
        "+5",
        "-1",
        " 100",
        "100\n",
        "1e3",
        "0100",
        "ten",
    ],
)
def test_container_iops_limit_must_be_a_plain_decimal_in_range(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        parse({"CONTAINER_IOPS_LIMIT": value})
    message = str(raised.value)
    assert "CONTAINER_IOPS_LIMIT / --container-iops-limit" in message
    assert repr(value) in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("unlimited", 0), ("500", 500), ("1000000000", 1_000_000_000)],
)
def test_container_iops_limit_takes_what_an_annotation_value_takes(
    value: str, expected: int
) -> None:
    assert parse({"CONTAINER_IOPS_LIMIT": value}).container_iops_limit == expected
