"""The annotation contract between the controller and the node writer (DESIGN.md).

Limit keys are ``iops-limit/<name>`` or ``iops-limit/<name>.<container>`` where ``<name>`` is
``limit`` (read and write IOPS), ``read-iops``, ``write-iops``, ``read-bps`` or ``write-bps``.
For each container and direction the most specific key wins: ``<dir>.<container>``, then
``limit.<container>``, then ``<dir>``, then ``limit``.

Values are parsed strictly because they end up in cgroup files: only ``0``, ``unlimited`` or a
plain ASCII decimal integer without leading zeros, within range. Any bad value, or a key under
``iops-limit/`` that looks like a misspelt limit key (``write-iop``, ``Write-IOPS``,
``write_iops``), rejects the pod's whole set: a typo must not silently mean "no limit". Keys
under the prefix that do not look like limit keys (the controller's bookkeeping, or future
ones) are ignored.
"""

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PREFIX = "iops-limit/"

LIMIT = PREFIX + "limit"
READ_IOPS = PREFIX + "read-iops"
WRITE_IOPS = PREFIX + "write-iops"
READ_BPS = PREFIX + "read-bps"
WRITE_BPS = PREFIX + "write-bps"
DIRECTION_KEYS = (READ_IOPS, WRITE_IOPS, READ_BPS, WRITE_BPS)

MANAGED_BY = PREFIX + "managed-by"
MANAGED_BY_CONTROLLER = "iops-controller"
RULE = PREFIX + "rule"
SINCE = PREFIX + "since"
REASON = PREFIX + "reason"
EXEMPT = PREFIX + "exempt"

MAX_IOPS = 1_000_000_000
MAX_BPS = 10**13
UNLIMITED = "unlimited"

# Field of ContainerLimits for each direction key name, and the most a value may be.
_DIRECTIONS = {
    "read-iops": ("read_iops", MAX_IOPS),
    "write-iops": ("write_iops", MAX_IOPS),
    "read-bps": ("read_bps", MAX_BPS),
    "write-bps": ("write_bps", MAX_BPS),
}
_LIMIT_NAMES = ("limit", *_DIRECTIONS)
_BOOKKEEPING_NAMES = tuple(key[len(PREFIX) :] for key in (MANAGED_BY, RULE, SINCE, REASON, EXEMPT))
_VALUE = re.compile(r"0|[1-9][0-9]*")  # [0-9], not \d: \d matches non-ASCII digits
_MAX_DIGITS = len(str(MAX_BPS))
_CONTAINER = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # RFC 1123 label
# Words that make a key under the prefix "look like" a limit key: reject rather than ignore.
_LIMIT_WORDS = ("iops", "bps", "limit", "read", "write", "iop", "io-")
_MAX_SHOWN = 64


class InvalidLimit(ValueError):
    """An annotation key or value that is not a valid limit; the whole pod is rejected."""

    def __init__(self, key: str, value: str, why: str) -> None:
        self.key = key
        self.value = value
        self.why = why
        super().__init__(f"invalid {_shown(key)}={_shown(value)}: {why}")


@dataclass(frozen=True)
class ContainerLimits:
    """One container's limits; None means no limit in that direction."""

    read_iops: int | None = None
    write_iops: int | None = None
    read_bps: int | None = None
    write_bps: int | None = None

    def is_unlimited(self) -> bool:
        return all(
            value is None
            for value in (self.read_iops, self.write_iops, self.read_bps, self.write_bps)
        )


NO_LIMITS = ContainerLimits()


def parse_value(key: str, value: str, maximum: int) -> int | None:
    """One value: ``0`` or ``unlimited`` is None, else an integer in 1..maximum."""
    if value == UNLIMITED:
        return None
    if not isinstance(value, str) or _VALUE.fullmatch(value) is None:
        raise InvalidLimit(key, str(value), "expected a plain decimal integer, 0 or 'unlimited'")
    if len(value) > _MAX_DIGITS:
        raise InvalidLimit(key, value, f"out of range 1..{maximum}")
    number = int(value)
    if number == 0:
        return None
    if number > maximum:
        raise InvalidLimit(key, value, f"out of range 1..{maximum}")
    return number


def format_value(value: int | None) -> str:
    """The annotation text for a limit; None is ``unlimited``."""
    if value is None:
        return UNLIMITED
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a limit is a positive integer or None, got {value!r}")
    return str(value)


def parse_pod_limits(
    annotations: Mapping[str, str], containers: Sequence[str]
) -> dict[str, ContainerLimits]:
    """Every named container's limits from a pod's annotations (all-None when unlimited).

    Raises :class:`InvalidLimit` for the first bad key or value found: the caller keeps its last
    good state for the whole pod.
    """
    # Every limit value is checked, even one a more specific key overrides: a bad value anywhere
    # means the pod's author made a mistake, and guessing which key they meant is not ours to do.
    pod_wide: dict[str, int | None] = {}
    per_container: dict[str, dict[str, int | None]] = {name: {} for name in containers}
    for key in sorted(annotations):
        parsed = _limit_key(key, annotations[key], per_container)
        if parsed is None:
            continue
        name, container = parsed
        maximum = _DIRECTIONS[name][1] if name in _DIRECTIONS else MAX_IOPS
        value = parse_value(key, annotations[key], maximum)
        (pod_wide if container is None else per_container[container])[name] = value
    result: dict[str, ContainerLimits] = {}
    for container in containers:
        own = per_container[container]
        fields = {
            field: _most_specific(direction, own, pod_wide)
            for direction, (field, _) in _DIRECTIONS.items()
        }
        result[container] = ContainerLimits(**fields)
    return result


def is_annotated(annotations: Mapping[str, str], container: str) -> bool:
    """Whether any limit key applies to the container, even one that says ``unlimited``.

    The node writer's CONTAINER_IOPS_LIMIT default only covers containers with no limit key.
    """
    for key in annotations:
        if not key.startswith(PREFIX):
            continue
        name, _, target = key[len(PREFIX) :].partition(".")
        if name in _LIMIT_NAMES and target in ("", container):
            return True
    return False


def _most_specific(
    direction: str, own: Mapping[str, int | None], pod_wide: Mapping[str, int | None]
) -> int | None:
    iops = direction.endswith("-iops")
    for values in (own, pod_wide):
        if direction in values:
            return values[direction]
        if iops and "limit" in values:
            return values["limit"]
    return None


def _limit_key(
    key: str, value: str, containers: Mapping[str, object]
) -> tuple[str, str | None] | None:
    """``(name, container or None)`` for a limit key, None for keys that are not limit keys."""
    if not key.startswith(PREFIX):
        return None
    rest = key[len(PREFIX) :]
    name, dot, container = rest.partition(".")
    if name not in _LIMIT_NAMES:
        if rest not in _BOOKKEEPING_NAMES and _looks_like_limit_key(name):
            guess = difflib.get_close_matches(name.lower(), _LIMIT_NAMES, n=1, cutoff=0.5)
            hint = f"; did you mean {PREFIX}{guess[0]}?" if guess else ""
            raise InvalidLimit(key, value, f"unknown limit key{hint}")
        return None
    if not dot:
        return name, None
    if _CONTAINER.fullmatch(container) is None:
        raise InvalidLimit(key, value, "the part after the dot is not a container name")
    if container not in containers:
        raise InvalidLimit(key, value, f"the pod has no container named {container!r}")
    return name, container


def _looks_like_limit_key(name: str) -> bool:
    lowered = name.lower().replace("_", "-")
    if any(word in lowered for word in _LIMIT_WORDS):
        return True
    return bool(difflib.get_close_matches(lowered, _LIMIT_NAMES, n=1, cutoff=0.75))


def _shown(text: str) -> str:
    """Quoted and cut short: values may carry newlines or be huge, and end up in Events."""
    text = str(text)
    if len(text) > _MAX_SHOWN:
        return repr(text[:_MAX_SHOWN]) + f"...({len(text)} chars)"
    return repr(text)
