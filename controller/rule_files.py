"""Load and check rule files; every problem is reported as ``file:line: message``.

A path is a rule file or a directory; in a directory the ``*.yaml``/``*.yml`` files directly in
it are rule files (sorted by name; hidden files and subdirectories such as ``tests/`` are not).
Files are read with YAML's node API so each problem carries the line it is on, and checking
goes on after a problem so that one run reports every problem of a file.
"""

import re
from pathlib import Path

from yaml.nodes import MappingNode, Node

from controller.expressions import Expression, ExpressionError, Kind, compile_expression
from controller.frames import DIRECTIONS, IOPS_DIRECTIONS
from controller.rule_model import (
    DEFAULT_RELEASE,
    DEFAULT_SEVERITY,
    Group,
    Limit,
    Release,
    Rule,
    RuleSet,
    Select,
)
from controller.summaries import SummaryTemplate, TemplateError, parse_summary
from controller.windows import ColumnsByName
from controller.yaml_checks import (
    EMPTY,
    CheckError,
    NodeChecker,
    Problem,
    as_written,
    compose,
    describe,
    peek_name,
    scalar,
    shortened,
)
from iops_limit.durations import parse_duration
from iops_limit.label_selectors import SelectorError, parse_label_selector
from iops_limit.quoting import quoted


class RuleFileError(CheckError):
    """Rule files that failed checking; ``problems`` lists every problem found."""


# The annotation contract's ceilings for a limit value.
MAX_LIMIT = {"read_iops": 10**9, "write_iops": 10**9, "read_bps": 10**13, "write_bps": 10**13}

_TOP_KEYS = ("groups",)
_GROUP_KEYS = ("name", "select", "rules", "release")
_SELECT_KEYS = ("namespaces", "excludeNamespaces", "podSelector", "excludeContainers")
_RULE_KEYS = ("name", "expr", "for", "limit", "severity", "summary")
_RELEASE_KEYS = ("expr", "for")
# The controller keeps (and after a restart reads back from Prometheus) this much history.
MAX_FOR_TEXT = "24h"
MAX_FOR = parse_duration(MAX_FOR_TEXT)


def rule_files(path: str | Path) -> list[Path]:
    """The rule files ``path`` names: itself, or the YAML files directly in a directory."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    found = [
        item
        for item in path.iterdir()
        if item.suffix in (".yaml", ".yml") and not item.name.startswith(".") and item.is_file()
    ]
    return sorted(found)


def load_rules(path: str | Path) -> RuleSet:
    """Load every rule file under ``path``; raise :class:`RuleFileError` listing all problems."""
    files = rule_files(path)
    problems: list[Problem] = []
    if not files:
        problems.append(Problem(str(path), None, "no *.yaml or *.yml rule files in directory"))
    groups: list[Group] = []
    for file in files:
        file_groups, file_problems = load_rule_file(file)
        groups.extend(file_groups)
        problems.extend(file_problems)
    seen: dict[str, Group] = {}
    for group in groups:
        first = seen.setdefault(group.name, group)
        if first is not group:
            problems.append(
                Problem(
                    group.file,
                    group.line,
                    f"group {quoted(group.name)}: duplicate group name "
                    f"(first defined at {first.file}:{first.line})",
                )
            )
    if problems:
        raise RuleFileError(problems)
    return RuleSet(tuple(groups), tuple(str(file) for file in files))


def load_rule_file(path: Path) -> tuple[list[Group], list[Problem]]:
    """The groups of one file and its problems (the groups are only usable without problems)."""
    root, problems = compose(path)
    if problems:
        return [], problems
    if root is None:
        return [], [Problem(str(path), None, "empty rule file: expected 'groups:'")]
    checker = _FileChecker(str(path))
    groups = checker.document(root)
    return groups, checker.sorted_problems()


class _FileChecker(NodeChecker):
    def expression(self, node: Node, where: str, kind: Kind) -> Expression | None:
        text = self.string(node, where)
        if text is None:
            return None
        try:
            return compile_expression(text, kind)
        except ExpressionError as error:
            self.report(node, where, str(error))
            return None

    def window(self, node: Node, where: str) -> float | None:
        """A ``for`` duration, at most :data:`MAX_FOR`."""
        seconds = self.duration(node, where)
        if seconds is not None and seconds > MAX_FOR:
            message = f"{as_written(node)} is longer than the maximum of {MAX_FOR_TEXT}"
            self.report(node, where, message)
            return None
        return seconds

    # -- the rule file shape ----------------------------------------------------------------

    def document(self, root: Node) -> list[Group]:
        top = self.mapping(root, "", _TOP_KEYS, _TOP_KEYS)
        if top is None or "groups" not in top:
            return []
        items = self.sequence(top["groups"], "groups")
        if items is not None and not items:
            self.report(top["groups"], "groups", "a rule file needs at least one group")
        groups: list[Group] = []
        for index, node in enumerate(items or [], start=1):
            group = self.group(node, index)
            if group is not None:
                groups.append(group)
        return groups

    def group(self, node: Node, index: int) -> Group | None:
        where = f"group {peek_name(node) or f'#{index}'}"
        keys = self.mapping(node, where, _GROUP_KEYS, ("name", "rules"))
        if keys is None:
            return None
        name = self.name(keys["name"], where) if "name" in keys else None
        select = self.select(keys["select"], where) if "select" in keys else Select()
        release = self.release(keys["release"], where) if "release" in keys else DEFAULT_RELEASE
        rules: list[Rule] = []
        rule_names: dict[str, int] = {}
        if "rules" in keys:
            items = self.sequence(keys["rules"], f"{where}: rules")
            if items is not None and not items:
                self.report(keys["rules"], f"{where}: rules", "a group needs at least one rule")
            for rule_index, item in enumerate(items or [], start=1):
                rule = self.rule(item, name or "", where, rule_index, rule_names)
                if rule is not None:
                    rules.append(rule)
        if name is None or select is None or release is None:
            return None
        line = node.start_mark.line + 1
        return Group(name, select, tuple(rules), release, self.file, line)

    def select(self, node: Node, group_where: str) -> Select | None:
        where = f"{group_where}: select"
        keys = self.mapping(node, where, _SELECT_KEYS, ())
        if keys is None:
            return None
        ok = True
        namespaces = None
        if "namespaces" in keys:
            namespaces = frozenset(v for _, v in self.strings(keys["namespaces"], where))
        excluded = frozenset(
            v for _, v in self.strings(keys.get("excludeNamespaces", EMPTY), where)
        )
        selector = None
        if "podSelector" in keys:
            text = self.string(keys["podSelector"], f"{where}: podSelector")
            try:
                selector = parse_label_selector(text) if text is not None else None
            except SelectorError as error:
                self.report(keys["podSelector"], f"{where}: podSelector", str(error))
                ok = False
        patterns = []
        for item, text in self.strings(keys.get("excludeContainers", EMPTY), where):
            try:
                patterns.append(re.compile(text))
            except re.error as error:
                self.report(
                    item, f"{where}: excludeContainers", f"bad regex {quoted(text)}: {error}"
                )
                ok = False
        if not ok:
            return None
        return Select(namespaces, excluded, selector, tuple(patterns))

    def release(self, node: Node, group_where: str) -> Release | None:
        where = f"{group_where}: release"
        keys = self.mapping(node, where, _RELEASE_KEYS, ("expr",))
        if keys is None or "expr" not in keys:
            return None
        expr = self.expression(keys["expr"], f"{where}: expr", Kind.BOOL)
        seconds = self.window(keys["for"], f"{where}: for") if "for" in keys else 0.0
        if expr is None or seconds is None:
            return None
        return Release(expr, seconds)

    def rule(
        self, node: Node, group: str, group_where: str, index: int, names: dict[str, int]
    ) -> Rule | None:
        where = f"{group_where} rule {peek_name(node) or f'#{index}'}"
        keys = self.mapping(node, where, _RULE_KEYS, ("name", "expr", "limit"))
        if keys is None:
            return None
        name = self.name(keys["name"], where) if "name" in keys else None
        if name is not None:
            if name in names:
                self.report(
                    keys["name"], where, f"duplicate rule name (first at line {names[name]})"
                )
            names.setdefault(name, keys["name"].start_mark.line + 1)
        expr = (
            self.expression(keys["expr"], f"{where}: expr", Kind.BOOL) if "expr" in keys else None
        )
        seconds = self.window(keys["for"], f"{where}: for") if "for" in keys else 0.0
        limits = self.limits(keys["limit"], f"{where}: limit") if "limit" in keys else None
        severity = (
            self.string(keys["severity"], f"{where}: severity")
            if "severity" in keys
            else DEFAULT_SEVERITY
        )
        summary = self.summary(keys["summary"], f"{where}: summary") if "summary" in keys else None
        if "summary" in keys and summary is None:
            return None
        if name is None or expr is None or seconds is None or limits is None or severity is None:
            return None
        line = node.start_mark.line + 1
        return Rule(group, name, expr, seconds, limits, severity, summary, self.file, line)

    def limits(self, node: Node, where: str) -> tuple[Limit, ...] | None:
        keys = self.mapping(node, where, DIRECTIONS, ())
        if keys is None:
            return None
        if not keys and isinstance(node, MappingNode) and not node.value:
            self.report(node, where, f"needs at least one of {', '.join(DIRECTIONS)}")
            return None
        limits: list[Limit] = []
        for direction, value_node in keys.items():
            limit = self.limit(value_node, f"{where}.{direction}", direction)
            if limit is not None:
                limits.append(limit)
        return tuple(limits) if len(limits) == len(keys) else None

    def limit(self, node: Node, where: str, direction: str) -> Limit | None:
        value = scalar(node)
        ceiling = MAX_LIMIT[direction]
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= ceiling:
            return Limit(direction, number=value)
        if isinstance(value, str):
            expression = self.expression(node, where, Kind.NUMBER)
            if expression is None:
                return None
            if expression.columns:
                return Limit(direction, expression=expression)
            return self.constant_limit(node, where, direction, expression)
        shown = describe(node) if not isinstance(value, int | float) else shortened(node)
        self.report(
            node,
            where,
            f"must be {_positive_integer(direction)} or an expression string, got {shown}",
        )
        return None

    def constant_limit(
        self, node: Node, where: str, direction: str, expression: Expression
    ) -> Limit | None:
        """An expression naming no column (``"500"``, ``"2 * 250"``) is one number for every
        container, so it is held to a number's rules: ``"0"`` or ``"1.5"`` fail here, at load
        time, not silently in the engine (which would clamp them to the floor)."""
        number = float(expression.numbers(ColumnsByName({}, 1))[0])
        if number.is_integer() and 0 < number <= MAX_LIMIT[direction]:
            return Limit(direction, number=int(number))
        shown = str(int(number)) if number.is_integer() else repr(number)
        self.report(
            node,
            where,
            f"expression {as_written(node)} is always {shown}: a limit must be "
            f"{_positive_integer(direction)}",
        )
        return None

    def summary(self, node: Node, where: str) -> SummaryTemplate | None:
        text = self.string(node, where)
        if text is None:
            return None
        try:
            return parse_summary(text)
        except TemplateError as error:
            self.report(node, where, str(error))
            return None


def _positive_integer(direction: str) -> str:
    unit = "IOPS" if direction in IOPS_DIRECTIONS else "bytes per second"
    return f"a positive integer ({unit}, at most {MAX_LIMIT[direction]})"
