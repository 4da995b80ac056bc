"""Rule expressions: a small, typed language over frame columns, never Python code.

An expression is parsed with :mod:`ast` and checked once, when the rule file is loaded; only
frame column names, numbers, quoted strings (for ``==``/``!=`` on string columns), ``True``/
``False``, arithmetic, comparisons (chained too), ``and``/``or``/``not`` (or ``&``/``|``/``~``)
and the functions in :data:`FUNCTIONS` are accepted. Nothing else can be named, so an
expression cannot reach a Python object. Evaluation is element-wise with numpy over whole
columns: one pass per expression, not one per container.
"""

import ast
import enum
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from controller.frames import NUMBER_COLUMNS, STRING_COLUMNS
from iops_limit.quoting import quoted

MAX_LENGTH = 2000
# Checking and evaluating recurse once per level; the engine evaluates deep in the service's
# stack, so an expression that checked fine must not hit Python's recursion limit there.
MAX_DEPTH = 100

Array = npt.NDArray[np.float64] | npt.NDArray[np.bool_] | npt.NDArray[np.object_]
Value = Array | float | bool | str


class ExpressionError(ValueError):
    """An expression that does not parse or is not allowed; the message says what and where."""


class Kind(enum.Enum):
    NUMBER = "a number"
    BOOL = "true/false"
    STRING = "a string"


class Columns(Protocol):
    """Where an expression reads its columns: ``length`` rows, one array per column name."""

    @property
    def length(self) -> int: ...

    def column(self, name: str) -> Array: ...


Evaluator = Callable[[Columns], Value]


@dataclass(frozen=True)
class _Function:
    arity: tuple[int, int | None]  # minimum, maximum (None: any)
    argument: Kind
    result: Kind
    apply: Callable[..., Value]


def _nan_min(*values: Value) -> Value:
    result = values[0]
    for value in values[1:]:
        result = np.fmin(result, value)
    return result


def _nan_max(*values: Value) -> Value:
    result = values[0]
    for value in values[1:]:
        result = np.fmax(result, value)
    return result


def _fillna(value: Value, fill: Value) -> Value:
    return np.where(np.isnan(value), fill, value)


# min/max ignore NaN (a missing limit) so that e.g. min(500, limit_write_iops) is 500 when no
# limit is applied; everything else propagates NaN, which compares as false.
FUNCTIONS: dict[str, _Function] = {
    "min": _Function((2, None), Kind.NUMBER, Kind.NUMBER, _nan_min),
    "max": _Function((2, None), Kind.NUMBER, Kind.NUMBER, _nan_max),
    "abs": _Function((1, 1), Kind.NUMBER, Kind.NUMBER, np.abs),
    "clip": _Function((3, 3), Kind.NUMBER, Kind.NUMBER, np.clip),
    "floor": _Function((1, 1), Kind.NUMBER, Kind.NUMBER, np.floor),
    "ceil": _Function((1, 1), Kind.NUMBER, Kind.NUMBER, np.ceil),
    "round": _Function((1, 1), Kind.NUMBER, Kind.NUMBER, np.round),
    "sqrt": _Function((1, 1), Kind.NUMBER, Kind.NUMBER, np.sqrt),
    "isnan": _Function((1, 1), Kind.NUMBER, Kind.BOOL, np.isnan),
    "fillna": _Function((2, 2), Kind.NUMBER, Kind.NUMBER, _fillna),
}

_ARITHMETIC: dict[type[ast.operator], Callable[[Value, Value], Value]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
}
_LOGICAL: dict[type[ast.operator], Callable[[Value, Value], Value]] = {
    ast.BitAnd: np.logical_and,
    ast.BitOr: np.logical_or,
}
_COMPARISONS: dict[type[ast.cmpop], Callable[[Value, Value], Value]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_NOT_ALLOWED = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.IfExp: "conditional expressions",
    ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.Starred: "starred arguments",
    ast.NamedExpr: "assignment",
    ast.JoinedStr: "f-strings",
    ast.Await: "await",
    ast.Yield: "yield",
}


@dataclass(frozen=True)
class _Typed:
    kind: Kind
    evaluate: Evaluator


@dataclass(frozen=True)
class ColumnUse:
    """Where a number column is named in the source, for rendering figures into reasons."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Expression:
    """A checked expression; :meth:`evaluate` returns one value per row."""

    source: str
    kind: Kind
    columns: frozenset[str]
    uses: tuple[ColumnUse, ...]
    _evaluate: Evaluator

    def holds(self, columns: Columns) -> npt.NDArray[np.bool_]:
        """A true/false expression's value per row."""
        return np.asarray(self.evaluate(columns), dtype=np.bool_)

    def numbers(self, columns: Columns) -> npt.NDArray[np.float64]:
        """A number expression's value per row."""
        return np.asarray(self.evaluate(columns), dtype=np.float64)

    def evaluate(self, columns: Columns) -> Array:
        with np.errstate(all="ignore"):
            value = self._evaluate(columns)
        dtype = np.bool_ if self.kind is Kind.BOOL else np.float64
        array: Array = np.asarray(value, dtype=dtype)
        if array.ndim == 0:
            array = np.full(columns.length, array, dtype=dtype)
        return array


def compile_expression(source: str, kind: Kind) -> Expression:
    """Parse and check ``source``; raise :class:`ExpressionError` unless it yields ``kind``."""
    if not source.strip():
        raise ExpressionError("empty expression")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    text = source.strip()
    try:
        # Python warns about odd literals on stderr ("<unknown>:1: SyntaxWarning"), which
        # would reach the service's log without file or line; problems are errors here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        offset = error.offset or 0
        where = f"column {offset}" if 0 < offset <= len(text) else "the end"
        raise ExpressionError(f"{_shown(text)}: invalid syntax at {where}: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError("expression does not parse (nested too deeply?)") from None
    uses: list[ColumnUse] = []
    typed = _Checker(uses, text).check(tree.body)
    if typed.kind is not kind:
        raise ExpressionError(
            f"expression {_shown(text)} must yield {kind.value}, but yields {typed.kind.value}"
        )
    names = frozenset(use.name for use in uses)
    return Expression(source.strip(), kind, names, tuple(uses), typed.evaluate)


class _Checker:
    def __init__(self, uses: list[ColumnUse], source: str) -> None:
        self._uses = uses
        self._source = source
        self._depth = 0

    def _written(self, node: ast.AST) -> str:
        """The part of the source ``node`` came from, quoted as written (not re-rendered)."""
        return quoted(ast.get_source_segment(self._source, node) or ast.unparse(node))

    def check(self, node: ast.expr) -> _Typed:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            what = _NOT_ALLOWED.get(type(node), type(node).__name__)
            raise ExpressionError(f"{what} not allowed in an expression")
        if self._depth >= MAX_DEPTH:
            raise ExpressionError(f"expression nested more than {MAX_DEPTH} levels deep")
        self._depth += 1
        try:
            typed: _Typed = method(node)
        finally:
            self._depth -= 1
        return typed

    def _expect(self, node: ast.expr, kind: Kind, role: str) -> Evaluator:
        typed = self.check(node)
        if typed.kind is not kind:
            text = self._written(node)
            raise ExpressionError(f"{role} needs {kind.value}, but {text} is {typed.kind.value}")
        return typed.evaluate

    def _Constant(self, node: ast.Constant) -> _Typed:
        value = node.value
        if isinstance(value, bool):
            return _Typed(Kind.BOOL, lambda _columns: value)
        if isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:
                digits = str(value)
                raise ExpressionError(
                    f"number {digits[:20]}… ({len(digits)} digits) is too large"
                ) from None
            return _Typed(Kind.NUMBER, lambda _columns: number)
        if isinstance(value, str):
            return _Typed(Kind.STRING, lambda _columns: value)
        raise ExpressionError(f"constant {value!r} not allowed in an expression")

    def _Name(self, node: ast.Name) -> _Typed:
        name = node.id
        if name in NUMBER_COLUMNS:
            self._uses.append(ColumnUse(name, node.col_offset, node.end_col_offset or 0))
            return _Typed(Kind.NUMBER, lambda columns: columns.column(name))
        if name in STRING_COLUMNS:
            return _Typed(Kind.STRING, lambda columns: columns.column(name))
        if name in FUNCTIONS:
            raise ExpressionError(f"function {name!r} must be called, e.g. {name}(...)")
        raise ExpressionError(
            f"unknown name {name!r}: expected a frame column "
            f"({', '.join((*STRING_COLUMNS, *NUMBER_COLUMNS))})"
        )

    def _UnaryOp(self, node: ast.UnaryOp) -> _Typed:
        if isinstance(node.op, ast.Not | ast.Invert):
            operand = self._expect(node.operand, Kind.BOOL, "'not'")
            return _Typed(Kind.BOOL, lambda columns: np.logical_not(operand(columns)))
        operand = self._expect(node.operand, Kind.NUMBER, "unary minus/plus")
        if isinstance(node.op, ast.USub):
            return _Typed(Kind.NUMBER, lambda columns: np.negative(operand(columns)))
        return _Typed(Kind.NUMBER, operand)

    def _BinOp(self, node: ast.BinOp) -> _Typed:
        op = type(node.op)
        if op in _ARITHMETIC:
            kind, function = Kind.NUMBER, _ARITHMETIC[op]
        elif op in _LOGICAL:
            kind, function = Kind.BOOL, _LOGICAL[op]
        else:
            raise ExpressionError(f"operator {_symbol(node)} not allowed in an expression")
        role = f"operator {_symbol(node)}"
        left = self._expect(node.left, kind, role)
        right = self._expect(node.right, kind, role)
        return _Typed(kind, lambda columns: function(left(columns), right(columns)))

    def _BoolOp(self, node: ast.BoolOp) -> _Typed:
        name = "and" if isinstance(node.op, ast.And) else "or"
        operands = [self._expect(value, Kind.BOOL, f"'{name}'") for value in node.values]
        combine = np.logical_and if name == "and" else np.logical_or

        def evaluate(columns: Columns) -> Value:
            result = operands[0](columns)
            for operand in operands[1:]:
                result = combine(result, operand(columns))
            return result

        return _Typed(Kind.BOOL, evaluate)

    def _Compare(self, node: ast.Compare) -> _Typed:
        operands = [self.check(node.left), *(self.check(item) for item in node.comparators)]
        steps: list[tuple[Callable[[Value, Value], Value], Evaluator, Evaluator]] = []
        for index, op in enumerate(node.ops):
            left, right = operands[index], operands[index + 1]
            equality = isinstance(op, ast.Eq | ast.NotEq)
            if type(op) not in _COMPARISONS:
                raise ExpressionError("only <, <=, >, >=, == and != compare values")
            if left.kind is not right.kind or left.kind is Kind.BOOL:
                raise ExpressionError(
                    f"cannot compare {left.kind.value} with {right.kind.value} "
                    f"in {self._written(node)}"
                )
            if left.kind is Kind.STRING and not equality:
                raise ExpressionError("strings can only be compared with == and !=")
            steps.append((_COMPARISONS[type(op)], left.evaluate, right.evaluate))

        def evaluate(columns: Columns) -> Value:
            result: Value = True
            for compare, left, right in steps:
                result = np.logical_and(result, compare(left(columns), right(columns)))
            return result

        return _Typed(Kind.BOOL, evaluate)

    def _Call(self, node: ast.Call) -> _Typed:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            allowed = ", ".join(FUNCTIONS)
            raise ExpressionError(
                f"call of {self._written(node.func)} not allowed: functions are {allowed}"
            )
        name = node.func.id
        function = FUNCTIONS[name]
        if node.keywords:
            raise ExpressionError(f"{name}() takes no keyword arguments")
        least, most = function.arity
        count = len(node.args)
        if count < least or (most is not None and count > most):
            wanted = f"{least}" if least == most else f"at least {least}"
            raise ExpressionError(f"{name}() takes {wanted} arguments, got {count}")
        arguments = [self._expect(arg, function.argument, f"{name}()") for arg in node.args]
        apply = function.apply
        return _Typed(
            function.result,
            lambda columns: apply(*(argument(columns) for argument in arguments)),
        )


def _shown(source: str, limit: int = 80) -> str:
    """An expression quoted as written, cut short: a message names it without repeating 2000
    characters."""
    return quoted(source if len(source) <= limit else source[: limit - 1] + "…")


def _symbol(node: ast.BinOp) -> str:
    symbols = {
        ast.Add: "+",
        ast.Sub: "-",
        ast.Mult: "*",
        ast.Div: "/",
        ast.FloorDiv: "//",
        ast.Mod: "%",
        ast.Pow: "**",
        ast.BitAnd: "&",
        ast.BitOr: "|",
    }
    return symbols.get(type(node.op), type(node.op).__name__)


def figures_template(expression: Expression) -> tuple[tuple[str, str], ...]:
    """The source cut before each number column: ``(text, column)`` pairs, ``column`` "" last.

    ``write_iops > 1000`` becomes ``(("", "write_iops"), (" > 1000", ""))``; a reason shows each
    named column followed by its observed value, e.g. ``write_iops 1850 > 1000``.
    """
    # ast offsets count UTF-8 bytes; string constants may hold any character.
    raw = expression.source.encode()
    parts: list[tuple[str, str]] = []
    position = 0
    for use in sorted(expression.uses, key=lambda item: item.start):
        parts.append((raw[position : use.end].decode(), use.name))
        position = use.end
    parts.append((raw[position:].decode(), ""))
    return tuple(parts)
