"""Rule test files: the format ``iops-controller test-rules`` reads, checked line by line.

See README "Rules" for the format; controller.rule_tests runs the tests.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node

from controller.engine import EngineOptions
from controller.frames import ACTIONS, DIRECTIONS, RATE_COLUMNS
from controller.rule_files import MAX_LIMIT, RuleFileError, load_rules
from controller.rule_model import Group, RuleSet
from controller.series_notation import SeriesError, expand
from controller.yaml_checks import EMPTY, CheckError, NodeChecker, Problem, compose, scalar
from iops_limit.durations import format_duration

DEFAULT_INTERVAL = 30.0

Key = tuple[str, str, str]


class RuleTestError(CheckError):
    """A test file that failed checking (its problems), or whose rule files did."""


@dataclass(frozen=True)
class ContainerInput:
    key: Key
    node: str
    labels: dict[str, str] | None
    series: dict[str, list[float | None]]


@dataclass(frozen=True)
class Expected:
    at: float
    key: Key
    line: int
    action: str
    limits: dict[str, float | None]
    rule: str | None = None
    severity: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RuleTest:
    name: str
    line: int
    interval: float
    containers: tuple[ContainerInput, ...]
    applied: dict[Key, dict[str, float]]
    expected: tuple[Expected, ...]


@dataclass(frozen=True)
class TestFile:
    path: str
    rules: RuleSet
    options: EngineOptions
    tests: tuple[RuleTest, ...]


def load_test_file(path: str | Path) -> TestFile:
    """Read and check a test file and its rule files; raise :class:`RuleTestError`."""
    path = Path(path)
    root, problems = compose(path)
    if problems:
        raise RuleTestError(problems)
    if root is None:
        raise RuleTestError([Problem(str(path), None, "empty test file: expected 'tests:'")])
    checker = _TestFileChecker(str(path))
    loaded = checker.document(root, path.parent)
    if checker.problems or loaded is None:
        raise RuleTestError(checker.sorted_problems())
    return loaded


_TOP_KEYS = ("rule_files", "evaluation_interval", "options", "tests")
_OPTION_KEYS = ("floor_iops", "floor_bps", "min_hold", "max_new_limits_fraction")
_TEST_KEYS = ("name", "interval", "containers", "applied", "expect")
_CONTAINER_KEYS = ("container", "node", "labels", "series")
_APPLIED_KEYS = ("container", "limits")
_EXPECT_KEYS = ("at", "decisions")
_DECISION_KEYS = ("container", "action", "limits", "rule", "severity", "reason")


class _TestFileChecker(NodeChecker):
    def document(self, root: Node, directory: Path) -> TestFile | None:
        keys = self.mapping(root, "", _TOP_KEYS, ("rule_files", "tests"))
        if keys is None:
            return None
        rules = self.rules(keys["rule_files"], directory) if "rule_files" in keys else None
        interval = DEFAULT_INTERVAL
        if "evaluation_interval" in keys:
            interval = self.positive_duration(keys["evaluation_interval"], "evaluation_interval")
        options = self.options(keys["options"]) if "options" in keys else EngineOptions()
        tests = []
        for index, node in enumerate(self.sequence(keys.get("tests", EMPTY), "tests") or [], 1):
            test = self.test(node, index, interval)
            if test is not None:
                tests.append(test)
        if rules is None or options is None:
            return None
        return TestFile(self.file, rules, options, tuple(tests))

    def positive_duration(self, node: Node, where: str) -> float:
        seconds = self.duration(node, where)
        if seconds is not None and seconds <= 0:
            self.report(node, where, "must be longer than 0s")
        return seconds or DEFAULT_INTERVAL

    def rules(self, node: Node, directory: Path) -> RuleSet | None:
        names = self.strings(node, "rule_files")
        if not names:
            self.report(node, "rule_files", "name at least one rule file")
            return None
        groups: list[Group] = []
        files: list[str] = []
        for item, name in names:
            try:
                loaded = load_rules(directory / name)
            except RuleFileError as error:
                for problem in error.problems:
                    self.report(item, "rule_files", str(problem))
                continue
            groups.extend(loaded.groups)
            files.extend(loaded.files)
        if len({group.name for group in groups}) != len(groups):
            self.report(node, "rule_files", "the rule files define a group name twice")
            return None
        return RuleSet(tuple(groups), tuple(files))

    def options(self, node: Node) -> EngineOptions | None:
        keys = self.mapping(node, "options", _OPTION_KEYS, ())
        if keys is None:
            return None
        values: dict[str, float] = {}
        for name, value_node in keys.items():
            if name == "min_hold":
                seconds = self.duration(value_node, "options: min_hold")
                if seconds is not None:
                    values[name] = seconds
                continue
            value = scalar(value_node)
            fraction = name == "max_new_limits_fraction"
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                self.report(value_node, f"options: {name}", "must be a positive number")
            elif not fraction and not isinstance(value, int):
                self.report(value_node, f"options: {name}", "must be a whole number")
            elif fraction and value > 1:
                self.report(value_node, f"options: {name}", "must be at most 1")
            else:
                values[name] = value
        return EngineOptions(**values)  # type: ignore[arg-type]

    def test(self, node: Node, index: int, interval: float) -> RuleTest | None:
        where = f"test #{index}"
        keys = self.mapping(node, where, _TEST_KEYS, ("name", "containers", "expect"))
        if keys is None:
            return None
        name = self.string(keys["name"], f"{where}: name") if "name" in keys else None
        where = f"test {name!r}" if name else where
        if "interval" in keys:
            interval = self.positive_duration(keys["interval"], f"{where}: interval")
        containers = [
            self.container(item, where)
            for item in self.sequence(keys.get("containers", EMPTY), f"{where}: containers") or []
        ]
        if "containers" in keys and not containers:
            self.report(keys["containers"], f"{where}: containers", "give at least one container")
        applied = {}
        for item in self.sequence(keys.get("applied", EMPTY), f"{where}: applied") or []:
            entry = self.applied(item, where)
            if entry is not None:
                applied[entry[0]] = entry[1]
        expected: list[Expected] = []
        for item in self.sequence(keys.get("expect", EMPTY), f"{where}: expect") or []:
            expected.extend(self.expect(item, where, interval))
        found = [container for container in containers if container is not None]
        if name is None or len(found) != len(containers):
            return None
        return RuleTest(
            name, node.start_mark.line + 1, interval, tuple(found), applied, tuple(expected)
        )

    def key(self, node: Node, where: str) -> Key | None:
        text = self.string(node, f"{where}: container")
        if text is None:
            return None
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            self.report(node, f"{where}: container", f"{text!r} is not namespace/pod/container")
            return None
        return parts[0], parts[1], parts[2]

    def container(self, node: Node, where: str) -> ContainerInput | None:
        keys = self.mapping(node, f"{where}: containers", _CONTAINER_KEYS, ("container", "series"))
        if keys is None or "container" not in keys or "series" not in keys:
            return None
        key = self.key(keys["container"], where)
        node_name = self.string(keys["node"], f"{where}: node") if "node" in keys else ""
        labels = None
        if "labels" in keys:
            label_keys = self.mapping(keys["labels"], f"{where}: labels", None, ())
            labels = {
                k: self.string(v, f"{where}: labels: {k}") or ""
                for k, v in (label_keys or {}).items()
            }
        series = {}
        series_keys = self.mapping(keys["series"], f"{where}: series", RATE_COLUMNS, ()) or {}
        for name, value_node in series_keys.items():
            text = scalar(value_node)
            try:
                series[name] = expand(str(text) if isinstance(text, str | int | float) else "?")
            except SeriesError as error:
                self.report(value_node, f"{where}: series: {name}", str(error))
        if not series_keys:
            self.report(keys["series"], f"{where}: series", "give at least one rate series")
        if key is None or node_name is None or len(series) != len(series_keys) or not series:
            return None
        return ContainerInput(key, node_name, labels, series)

    def limits(self, node: Node, where: str, allow_none: bool) -> dict[str, float | None] | None:
        keys = self.mapping(node, where, DIRECTIONS, ())
        if keys is None:
            return None
        limits: dict[str, float | None] = {}
        for direction, value_node in keys.items():
            value = scalar(value_node)
            if allow_none and value == "none":
                limits[direction] = None
            elif (
                isinstance(value, int)
                and not isinstance(value, bool)
                and 0 < value <= MAX_LIMIT[direction]
            ):
                limits[direction] = float(value)
            else:
                wanted = "a positive integer or none" if allow_none else "a positive integer"
                self.report(value_node, f"{where}.{direction}", f"must be {wanted}")
        return limits

    def applied(self, node: Node, where: str) -> tuple[Key, dict[str, float]] | None:
        keys = self.mapping(node, f"{where}: applied", _APPLIED_KEYS, _APPLIED_KEYS)
        if keys is None or len(keys) != len(_APPLIED_KEYS):
            return None
        key = self.key(keys["container"], where)
        limits = self.limits(keys["limits"], f"{where}: applied: limits", allow_none=False)
        if key is None or limits is None:
            return None
        return key, {d: v for d, v in limits.items() if v is not None}

    def expect(self, node: Node, where: str, interval: float) -> list[Expected]:
        keys = self.mapping(node, f"{where}: expect", _EXPECT_KEYS, _EXPECT_KEYS)
        if keys is None or len(keys) != len(_EXPECT_KEYS):
            return []
        at = self.at(keys["at"], where, interval)
        found = []
        for item in self.sequence(keys["decisions"], f"{where}: decisions") or []:
            expected = self.decision(item, where, at)
            if expected is not None:
                found.append(expected)
        return found if at is not None else []

    def at(self, node: Node, where: str, interval: float) -> float | None:
        seconds = self.duration(node, f"{where}: at")
        if seconds is not None and not math.isclose(seconds / interval, round(seconds / interval)):
            self.report(
                node,
                f"{where}: at",
                f"{format_duration(seconds)} is not a multiple of the interval "
                f"{format_duration(interval)}",
            )
            return None
        return seconds

    def decision(self, node: Node, where: str, at: float | None) -> Expected | None:
        keys = self.mapping(node, f"{where}: decisions", _DECISION_KEYS, ("container", "action"))
        if keys is None or "container" not in keys or "action" not in keys:
            return None
        key = self.key(keys["container"], where)
        action = self.string(keys["action"], f"{where}: action")
        if action is not None and action not in ACTIONS:
            self.report(
                keys["action"], f"{where}: action", f"{action!r} is not one of {', '.join(ACTIONS)}"
            )
            action = None
        limits: dict[str, float | None] | None = {}
        if "limits" in keys:
            limits = self.limits(keys["limits"], f"{where}: limits", allow_none=True)
        texts = {
            name: self.string(keys[name], f"{where}: {name}") if name in keys else None
            for name in ("rule", "severity", "reason")
        }
        if key is None or action is None or limits is None or at is None:
            return None
        line = node.start_mark.line + 1
        return Expected(
            at, key, line, action, limits, texts["rule"], texts["severity"], texts["reason"]
        )
