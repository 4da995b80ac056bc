"""Checking YAML documents node by node, so that every problem names its file and line.

A checker reports a problem and carries on, so one run lists every problem of a file.
"""

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from iops_limit.durations import DurationError, parse_duration
from iops_limit.quoting import quoted

# Names end up in the iops-limit/rule annotation as group/rule, so no slashes or spaces.
_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class CheckError(Exception):
    """Files that failed checking; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


# Rule files need about six levels; the composer recurses per level and would hit Python's
# recursion limit (a RecursionError, not a message) at a few hundred.
MAX_DEPTH = 32
_CORE = "tag:yaml.org,2002:"
# Plain YAML values; a timestamp is let through so that shape checks can say "got date".
_PLAIN_TAGS = frozenset(
    _CORE + name for name in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp")
)


class _TooDeep(Exception):
    def __init__(self, line: int | None) -> None:
        super().__init__(line)
        self.line = line


class _CheckingLoader(yaml.SafeLoader):
    """SafeLoader's composer, noting what plain YAML checking would miss or trip over.

    Tags (``!!python/object``, ``!custom``) are ignored by composing and would silently pass;
    merge keys (``<<``) fail in the constructor with a traceback; an alias of a list or
    mapping copies a whole structure (a second group or rule whose problems are reported at
    the anchor's line, or an exponential "billion laughs" expansion).
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.problems: list[tuple[int | None, str]] = []
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in stubs
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, AliasEvent):
            anchored = self.anchors.get(event.anchor)
            if anchored is not None and not isinstance(anchored, ScalarNode):
                self.problems.append(
                    (
                        line,
                        f"alias *{event.anchor}: aliases of lists or mappings are not "
                        "allowed (write the value out; aliases of single values are fine)",
                    )
                )
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _TooDeep(line)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._check_tag(node)
        return node

    def _check_tag(self, node: Node) -> None:
        line = node.start_mark.line + 1
        if node.tag == _CORE + "merge":
            self.problems.append((line, "merge keys ('<<') are not supported: write the keys out"))
        elif node.tag not in _PLAIN_TAGS:
            shown = "!!" + node.tag.removeprefix(_CORE) if node.tag.startswith(_CORE) else node.tag
            self.problems.append(
                (line, f"YAML tag {quoted(shown)} not allowed: rule files hold plain YAML values")
            )


def compose(path: Path) -> tuple[Node | None, list[Problem]]:
    """The YAML node tree of a file (None when empty), or the problems that kept it unread."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [Problem(name, None, f"cannot read file: {error}")]
    try:
        # The reader checks every character up front, so constructing can fail too.
        loader = _CheckingLoader(text)
    except yaml.reader.ReaderError as error:
        at = text.count("\n", 0, error.position) + 1
        shown = f"#x{error.character:04x}" if isinstance(error.character, int) else "a character"
        return None, [Problem(name, at, f"YAML error: {shown} is not allowed in YAML text")]
    try:
        root = loader.get_single_node()
    except _TooDeep as error:
        return None, [Problem(name, error.line, f"nested more than {MAX_DEPTH} levels deep")]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        return None, [Problem(name, line, f"YAML syntax error: {error.problem or error.context}")]
    except yaml.YAMLError as error:
        return None, [Problem(name, None, f"YAML error: {error}")]
    finally:
        loader.dispose()
    # The tree is not checked further: an alias may have made it huge or odd.
    return root, [Problem(name, line, message) for line, message in loader.problems]


class NodeChecker:
    """Generic shapes (mapping, list, string, duration) with problems reported by line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def report(self, node: Node, where: str, message: str) -> None:
        text = f"{where}: {message}" if where else message
        self.problems.append(Problem(self.file, node.start_mark.line + 1, text))

    def mapping(
        self,
        node: Node,
        where: str,
        allowed: tuple[str, ...] | None,
        required: tuple[str, ...],
    ) -> dict[str, Node] | None:
        """The mapping's value nodes by key; ``allowed`` None accepts any string key."""
        if not isinstance(node, MappingNode):
            self.report(node, where, f"expected a mapping, got {describe(node)}")
            return None
        keys: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = scalar(key_node)
            if not isinstance(key, str):
                self.report(key_node, where, f"keys must be strings, got {describe(key_node)}")
            elif key in keys:
                self.report(key_node, where, f"duplicate key {quoted(key)}")
            elif allowed is not None and key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                expected = ", ".join(allowed)
                self.report(
                    key_node, where, f"unknown key {quoted(key)}{hint}; expected {expected}"
                )
            else:
                keys[key] = value_node
        for key in required:
            if key not in keys:
                self.report(node, where, f"missing key {key!r}")
        return keys

    def sequence(self, node: Node, where: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.report(node, where, f"expected a list, got {describe(node)}")
            return None
        return list(node.value)

    def string(self, node: Node, where: str) -> str | None:
        value = scalar(node)
        if not isinstance(value, str):
            self.report(node, where, f"expected a string, got {describe(node)}")
            return None
        return value

    def strings(self, node: Node, where: str) -> list[tuple[Node, str]]:
        items = self.sequence(node, where) or []
        found = [(item, self.string(item, where)) for item in items]
        return [(item, value) for item, value in found if value is not None]

    def name(self, node: Node, where: str) -> str | None:
        value = self.string(node, f"{where}: name" if where else "name")
        if value is not None and not _NAME.fullmatch(value):
            self.report(
                node,
                where,
                f"name {quoted(value)}: use up to 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit",
            )
            return None
        return value

    def duration(self, node: Node, where: str) -> float | None:
        text = self.string(node, where)
        if text is None:
            return None
        try:
            return parse_duration(text)
        except DurationError as error:
            self.report(node, where, str(error))
            return None

    def sorted_problems(self) -> list[Problem]:
        return sorted(self.problems, key=lambda problem: problem.line or 0)


EMPTY = SequenceNode("tag:yaml.org,2002:seq", [])


def peek_name(node: Node) -> str | None:
    """The quoted name of a group or rule, to say where a problem is before checking it."""
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if scalar(key_node) == "name" and isinstance(name := scalar(value_node), str):
                return quoted(name)
    return None


class Unreadable:
    """A scalar YAML resolves to a type but cannot construct: an integer of more than 4300
    digits (Python refuses to convert it), a date such as 2026-13-45."""


def scalar(node: Node) -> object:
    """The Python value of a scalar node (YAML 1.1 core types), or the node for collections."""
    if not isinstance(node, ScalarNode):
        return node
    try:
        return SafeConstructor().construct_object(node)
    except ValueError:
        return Unreadable()


def shortened(node: Node, limit: int = 40) -> str:
    """A scalar's text as written in the file, cut short when long (a 4000-digit number)."""
    text = str(node.value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_written(node: Node) -> str:
    """A scalar's text as written, quoted."""
    return quoted(shortened(node))


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = scalar(node)
    if value is None:
        return "nothing (null)"
    if isinstance(value, Unreadable):
        return f"an unreadable {node.tag.removeprefix(_CORE)} ({as_written(node)})"
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    return f"{kinds.get(type(value), type(value).__name__)} ({as_written(node)})"
