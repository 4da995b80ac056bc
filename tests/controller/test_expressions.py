import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from controller.expressions import (
    Array,
    ExpressionError,
    Kind,
    compile_expression,
    figures_template,
)


class Table:
    def __init__(self, **columns: Sequence[object] | Array) -> None:
        self._columns = {name: np.asarray(values) for name, values in columns.items()}
        self.length = len(next(iter(columns.values())))

    def column(self, name: str) -> Array:
        return self._columns[name]


def evaluate(source: str, kind: Kind, table: Table) -> list[object]:
    result: npt.NDArray[np.generic] = compile_expression(source, kind).evaluate(table)
    return list(result.tolist())


def test_comparison_chain_and_boolean_operators_work_element_wise() -> None:
    table = Table(write_iops=[50.0, 500.0, 5000.0], read_iops=[1.0, 200.0, 0.0])
    assert evaluate("100 < write_iops <= 1000", Kind.BOOL, table) == [False, True, False]
    assert evaluate("write_iops > 100 and not read_iops > 100", Kind.BOOL, table) == [
        False,
        False,
        True,
    ]
    assert evaluate("(write_iops > 1000) | ~(read_iops < 100)", Kind.BOOL, table) == [
        False,
        True,
        True,
    ]


def test_min_and_max_ignore_a_missing_limit_but_comparisons_with_nan_are_false() -> None:
    table = Table(limit_write_iops=[np.nan, 300.0], write_iops=[10.0, 10.0])
    assert evaluate("min(500, limit_write_iops)", Kind.NUMBER, table) == [500.0, 300.0]
    assert evaluate("write_iops < limit_write_iops", Kind.BOOL, table) == [False, True]
    assert evaluate("isnan(limit_write_iops)", Kind.BOOL, table) == [True, False]
    assert evaluate("fillna(limit_write_iops, 7)", Kind.NUMBER, table) == [7.0, 300.0]


def test_string_columns_compare_with_quoted_strings() -> None:
    table = Table(namespace=np.array(["a", "b"], dtype=object))
    assert evaluate("namespace == 'b'", Kind.BOOL, table) == [False, True]


def test_constant_expression_is_broadcast_to_every_row() -> None:
    table = Table(write_iops=[1.0, 2.0, 3.0])
    assert evaluate("max(100, 2 * 100)", Kind.NUMBER, table) == [200.0, 200.0, 200.0]


def test_division_by_zero_gives_infinity_not_an_exception() -> None:
    table = Table(write_iops=[0.0])
    assert evaluate("1 / write_iops", Kind.NUMBER, table) == [np.inf]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("write_iops.__class__ > 1", "attribute access not allowed"),
        ("[write_iops][0] > 1", "subscripts not allowed"),
        ("open('x') > 1", "call of 'open' not allowed"),
        ("min(write_iops, key=1) > 1", "min() takes no keyword arguments"),
        ("(x := 1) > 0", "assignment not allowed"),
        ("write_iops if True else 1 > 0", "conditional expressions not allowed"),
        ("write_iops > 'a'", "cannot compare a number with a string"),
        ("write_iops + True > 1", "operator + needs a number, but 'True' is true/false"),
        ("min > 1", "function 'min' must be called"),
        ("not " * 400 + "True", "expression nested more than 100 levels deep"),
        ("-" * 150 + "1 > 0", "expression nested more than 100 levels deep"),
        ("(" * 300 + "1" + ")" * 300 + " > 0", "too many nested parentheses"),
    ],
)
def test_anything_outside_the_language_is_rejected(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(source, Kind.BOOL)


def test_figures_template_cuts_the_source_after_each_number_column() -> None:
    expression = compile_expression("write_iops > 2 * read_iops", Kind.BOOL)
    assert figures_template(expression) == (
        ("write_iops", "write_iops"),
        (" > 2 * read_iops", "read_iops"),
        ("", ""),
    )
