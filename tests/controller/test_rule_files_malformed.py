# ruff: noqa: E501  -- the expected messages are quoted whole, as users see them
"""Each malformed rule file is rejected with every problem as the exact ``file:line: message``."""

import textwrap
from pathlib import Path

import pytest

from controller.rule_files import RuleFileError, load_rules
from tests.controller.malformed_quoting_cases import QUOTING_CASES
from tests.controller.malformed_yaml_cases import YAML_CASES
from tests.controller.rule_file_texts import GOOD_RULE

# (test id, rule file text, expected problems as "line: message")
CASES: list[tuple[str, str, list[str]]] = [
    ("top-not-mapping", "- a\n- b\n", ["1: expected a mapping, got a list"]),
    (
        "missing-groups",
        "other: 1\n",
        ["1: unknown key 'other'; expected groups", "1: missing key 'groups'"],
    ),
    ("groups-not-list", "groups: {a: 1}\n", ["1: groups: expected a list, got a mapping"]),
    (
        "group-not-mapping",
        "groups:\n  - just-a-name\n",
        ["2: group #1: expected a mapping, got a string ('just-a-name')"],
    ),
    (
        "group-missing-name-and-rules",
        "groups:\n  - select: {}\n",
        ["2: group #1: missing key 'name'", "2: group #1: missing key 'rules'"],
    ),
    (
        "group-unknown-key",
        "groups:\n  - name: g\n    rule:\n" + GOOD_RULE,
        [
            "2: group 'g': missing key 'rules'",
            "3: group 'g': unknown key 'rule' (did you mean 'rules'?); expected name, select, rules, release",
        ],
    ),
    (
        "group-bad-name",
        "groups:\n  - name: 'a/b'\n    rules:\n" + GOOD_RULE,
        [
            "2: group 'a/b': name 'a/b': use up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ],
    ),
    (
        "group-name-not-string",
        "groups:\n  - name: [x]\n    rules:\n" + GOOD_RULE,
        ["2: group #1: name: expected a string, got a list"],
    ),
    (
        "duplicate-group",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "  - name: g\n    rules:\n" + GOOD_RULE,
        ["7: group 'g': duplicate group name (first defined at {path}:2)"],
    ),
    (
        "empty-rules",
        "groups:\n  - name: g\n    rules: []\n",
        ["3: group 'g': rules: a group needs at least one rule"],
    ),
    (
        "rule-missing-keys",
        "groups:\n  - name: g\n    rules:\n      - name: r\n",
        ["4: group 'g' rule 'r': missing key 'expr'", "4: group 'g' rule 'r': missing key 'limit'"],
    ),
    (
        "rule-unknown-key-with-hint",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        fro: 5m\n",
        [
            "7: group 'g' rule 'writer': unknown key 'fro' (did you mean 'for'?); expected name, expr, for, limit, severity, summary"
        ],
    ),
    (
        "rule-duplicate-key",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        expr: read_iops > 1\n",
        ["7: group 'g' rule 'writer': duplicate key 'expr'"],
    ),
    (
        "duplicate-rule",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + GOOD_RULE,
        ["7: group 'g' rule 'writer': duplicate rule name (first at line 4)"],
    ),
    (
        "bad-duration",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        for: 5 minutes\n",
        [
            "7: group 'g' rule 'writer': for: invalid duration '5 minutes': expected e.g. 30s, 5m, 1h30m"
        ],
    ),
    (
        "duration-not-string",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        for: 300\n",
        ["7: group 'g' rule 'writer': for: expected a string, got an integer ('300')"],
    ),
    (
        "expr-syntax",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: 'write_iops >'\n        limit: {write_iops: 5}\n",
        ["5: group 'g' rule 'r': expr: 'write_iops >': invalid syntax at the end: invalid syntax"],
    ),
    (
        "expr-unknown-name",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: wirte_iops > 5\n        limit: {write_iops: 5}\n",
        [
            "5: group 'g' rule 'r': expr: unknown name 'wirte_iops': expected a frame column (namespace, pod, container, node, read_iops, write_iops, total_iops, read_bps, write_bps, limit_write_iops, limit_read_iops, limit_write_bps, limit_read_bps)"
        ],
    ),
    (
        "expr-attribute",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops.__class__ > 5\n        limit: {write_iops: 5}\n",
        ["5: group 'g' rule 'r': expr: attribute access not allowed in an expression"],
    ),
    (
        "expr-subscript",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: \"namespace[0] == 'a'\"\n        limit: {write_iops: 5}\n",
        ["5: group 'g' rule 'r': expr: subscripts not allowed in an expression"],
    ),
    (
        "expr-lambda",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: '(lambda: 1)() > 0'\n        limit: {write_iops: 5}\n",
        [
            "5: group 'g' rule 'r': expr: call of 'lambda: 1' not allowed: functions are min, max, abs, clip, floor, ceil, round, sqrt, isnan, fillna"
        ],
    ),
    (
        "expr-forbidden-call",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: \"__import__('os') > 0\"\n        limit: {write_iops: 5}\n",
        [
            "5: group 'g' rule 'r': expr: call of '__import__' not allowed: functions are min, max, abs, clip, floor, ceil, round, sqrt, isnan, fillna"
        ],
    ),
    (
        "expr-not-boolean",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops * 2\n        limit: {write_iops: 5}\n",
        [
            "5: group 'g' rule 'r': expr: expression 'write_iops * 2' must yield true/false, but yields a number"
        ],
    ),
    (
        "expr-string-ordering",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: \"namespace < 'b'\"\n        limit: {write_iops: 5}\n",
        ["5: group 'g' rule 'r': expr: strings can only be compared with == and !="],
    ),
    (
        "expr-function-arity",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: clip(write_iops, 1) > 5\n        limit: {write_iops: 5}\n",
        ["5: group 'g' rule 'r': expr: clip() takes 3 arguments, got 2"],
    ),
    (
        "expr-not-a-string",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: true\n        limit: {write_iops: 5}\n",
        ["5: group 'g' rule 'r': expr: expected a string, got a boolean ('true')"],
    ),
    (
        "limit-zero",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: 0}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: must be a positive integer (IOPS, at most 1000000000) or an expression string, got 0"
        ],
    ),
    (
        "limit-float",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {read_bps: 1.5}\n",
        [
            "6: group 'g' rule 'r': limit.read_bps: must be a positive integer (bytes per second, at most 10000000000000) or an expression string, got 1.5"
        ],
    ),
    (
        "groups-empty",
        "groups: []\n",
        ["1: groups: a rule file needs at least one group"],
    ),
    (
        "limit-unknown-direction",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {iops: 100}\n",
        [
            "6: group 'g' rule 'r': limit: unknown key 'iops' (did you mean 'read_iops'?); expected write_iops, read_iops, write_bps, read_bps"
        ],
    ),
    (
        "limit-empty",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {}\n",
        [
            "6: group 'g' rule 'r': limit: needs at least one of write_iops, read_iops, write_bps, read_bps"
        ],
    ),
    (
        "limit-expression-boolean",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit:\n          write_iops: 'write_iops > 3'\n",
        [
            "7: group 'g' rule 'r': limit.write_iops: expression 'write_iops > 3' must yield a number, but yields true/false"
        ],
    ),
    (
        "limit-expression-bad-function",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit:\n          write_iops: 'median(write_iops, 3)'\n",
        [
            "7: group 'g' rule 'r': limit.write_iops: call of 'median' not allowed: functions are min, max, abs, clip, floor, ceil, round, sqrt, isnan, fillna"
        ],
    ),
    (
        "summary-unknown-column",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        summary: '{pod} did {iops}'\n",
        [
            "7: group 'g' rule 'writer': summary: placeholder {iops} must name a frame column (namespace, pod, container, node, read_iops, write_iops, total_iops, read_bps, write_bps, limit_write_iops, limit_read_iops, limit_write_bps, limit_read_bps)"
        ],
    ),
    (
        "summary-bad-spec",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        summary: '{write_iops:.0d}'\n",
        [
            "7: group 'g' rule 'writer': summary: placeholder {write_iops:.0d}: Unknown format code 'd' for object of type 'float'"
        ],
    ),
    (
        "summary-huge-width",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        summary: '{pod:>999999999}'\n",
        [
            "7: group 'g' rule 'writer': summary: placeholder {pod:>999999999}: width and precision are at most 64"
        ],
    ),
    (
        "summary-unbalanced-brace",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        summary: '{pod'\n",
        [
            "7: group 'g' rule 'writer': summary: invalid template: expected '}' before end of string"
        ],
    ),
    (
        "selector-syntax",
        "groups:\n  - name: g\n    select:\n      podSelector: 'tier notin database'\n    rules:\n"
        + GOOD_RULE,
        [
            "4: group 'g': select: podSelector: invalid requirement 'tier notin database': expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)"
        ],
    ),
    (
        "selector-bad-value",
        "groups:\n  - name: g\n    select:\n      podSelector: 'tier in (web, -x)'\n    rules:\n"
        + GOOD_RULE,
        [
            "4: group 'g': select: podSelector: invalid label value '-x': up to 63 characters of letters, digits, '-', '_', '.', starting and ending with a letter or digit"
        ],
    ),
    (
        "selector-bad-key",
        "groups:\n  - name: g\n    select:\n      podSelector: 'Bad_Prefix/app=web'\n    rules:\n"
        + GOOD_RULE,
        [
            "4: group 'g': select: podSelector: invalid label key 'Bad_Prefix/app': expected [prefix/]name, name up to 63 characters of letters, digits, '-', '_', '.', starting and ending with a letter or digit"
        ],
    ),
    (
        "bad-regex",
        "groups:\n  - name: g\n    select:\n      excludeContainers: ['^istio(']\n    rules:\n"
        + GOOD_RULE,
        [
            "4: group 'g': select: excludeContainers: bad regex '^istio(': missing ), unterminated subpattern at position 6"
        ],
    ),
    (
        "select-unknown-key",
        "groups:\n  - name: g\n    select:\n      excludeNamespace: [kube-system]\n    rules:\n"
        + GOOD_RULE,
        [
            "4: group 'g': select: unknown key 'excludeNamespace' (did you mean 'excludeNamespaces'?); expected namespaces, excludeNamespaces, podSelector, excludeContainers"
        ],
    ),
    (
        "namespaces-not-strings",
        "groups:\n  - name: g\n    select:\n      namespaces: [team-a, 42]\n    rules:\n"
        + GOOD_RULE,
        ["4: group 'g': select: expected a string, got an integer ('42')"],
    ),
    (
        "release-missing-expr",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "    release:\n      for: 10m\n",
        ["8: group 'g': release: missing key 'expr'"],
    ),
    (
        "release-bad-expr-and-for",
        "groups:\n  - name: g\n    rules:\n"
        + GOOD_RULE
        + "    release:\n      expr: write_iops <\n      for: ten\n",
        [
            "8: group 'g': release: expr: 'write_iops <': invalid syntax at the end: invalid syntax",
            "9: group 'g': release: for: invalid duration 'ten': expected e.g. 30s, 5m, 1h30m",
        ],
    ),
    (
        "severity-not-string",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        severity: [high]\n",
        ["7: group 'g' rule 'writer': severity: expected a string, got a list"],
    ),
]

ALL_CASES = CASES + YAML_CASES + QUOTING_CASES


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in ALL_CASES],
    ids=[c[0] for c in ALL_CASES],
)
def test_malformed_rule_file_reports_each_problem_with_file_and_line(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RuleFileError) as caught:
        load_rules(path)
    prefix = f"{path}:" if expected[0][0].isdigit() else f"{path}: "
    expected = [prefix + line.replace("{path}", str(path)) for line in expected]
    assert [str(problem) for problem in caught.value.problems] == expected


def test_problems_of_several_files_are_all_reported_and_duplicate_groups_across_files_named(
    tmp_path: Path,
) -> None:
    good = "groups:\n  - name: shared\n    rules:\n" + GOOD_RULE
    (tmp_path / "a.yaml").write_text(good)
    (tmp_path / "b.yaml").write_text(good)
    (tmp_path / "c.yaml").write_text("groups: 3\n")
    with pytest.raises(RuleFileError) as caught:
        load_rules(tmp_path)
    assert [str(problem) for problem in caught.value.problems] == [
        f"{tmp_path}/c.yaml:1: groups: expected a list, got an integer ('3')",
        f"{tmp_path}/b.yaml:2: group 'shared': duplicate group name (first defined at {tmp_path}/a.yaml:2)",
    ]


def test_directory_without_rule_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "x.yaml").write_text("groups: []\n")
    with pytest.raises(RuleFileError) as caught:
        load_rules(tmp_path)
    assert str(caught.value) == f"{tmp_path}: no *.yaml or *.yml rule files in directory"


def test_valid_file_loads_groups_rules_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            groups:
              - name: g
                select: {namespaces: [a], podSelector: 'app in (x, y), !canary'}
                rules:
                  - name: writer
                    expr: write_iops > 1000 and namespace != 'kube-system'
                    for: 1h30m
                    limit: {write_iops: 500, read_bps: 'max(1048576, 0.5 * read_bps)'}
            """
        )
    )
    rules = load_rules(path)
    (rule,) = rules.rules()
    assert (rule.qualified_name, rule.for_seconds, rule.severity) == ("g/writer", 5400, "warning")
    assert [limit.direction for limit in rule.limits] == ["write_iops", "read_bps"]
    assert rules.groups[0].release.is_default
    assert rules.max_for() == 5400


def test_configmap_mount_layout_loads_each_file_once(tmp_path: Path) -> None:
    # The kubelet mounts a ConfigMap as ..<timestamp>/ files, a ..data link, and file links.
    data = tmp_path / "..2026_11_22_12_00_00.000000001"
    data.mkdir()
    (data / "team.yaml").write_text("groups:\n  - name: team\n    rules:\n" + GOOD_RULE)
    (tmp_path / "..data").symlink_to(data.name)
    (tmp_path / "team.yaml").symlink_to("..data/team.yaml")
    rules = load_rules(tmp_path)
    assert [group.name for group in rules.groups] == ["team"]
    assert rules.files == (str(tmp_path / "team.yaml"),)


def test_an_alias_of_a_single_value_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n"
        "        for: &window 5m\n        limit: {write_iops: 5}\n"
        "    release: {expr: write_iops < 1, for: *window}\n"
    )
    assert load_rules(path).groups[0].release.for_seconds == 300


def test_a_quoted_constant_limit_is_the_number(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n"
        "        limit: {write_iops: '500', read_iops: '2 * 250'}\n"
    )
    (rule,) = load_rules(path).rules()
    assert [(limit.number, limit.expression) for limit in rule.limits] == [(500, None), (500, None)]
