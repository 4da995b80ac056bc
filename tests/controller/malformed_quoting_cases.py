# ruff: noqa: E501  -- the expected messages are quoted whole, as users see them
"""Messages quote what the operator wrote (expressions, placeholders, regexes, selector
values), not Python's rendering of it: test cases for ``test_rule_files_malformed``."""

from tests.controller.rule_file_texts import GOOD_RULE

# (test id, rule file text, expected problems as "line: message")
QUOTING_CASES: list[tuple[str, str, list[str]]] = [
    (
        # Quoted as written, spacing and all, not as Python would re-render it.
        "expr-operand-quoted-as-written",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: '(write_iops  +1) and True'\n        limit: {write_iops: 5}\n",
        ["5: group 'g' rule 'r': expr: 'and' needs true/false, but 'write_iops  +1' is a number"],
    ),
    (
        "expr-comparison-quoted-as-written",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: 'write_iops>\"a\"'\n        limit: {write_iops: 5}\n",
        [
            "5: group 'g' rule 'r': expr: cannot compare a number with a string in 'write_iops>\"a\"'"
        ],
    ),
    (
        "summary-conversion-shown-as-written",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        summary: '{pod!r:>10}'\n",
        [
            "7: group 'g' rule 'writer': summary: placeholder {pod!r:>10}: only a plain format spec is allowed"
        ],
    ),
    (
        "summary-unknown-column-shown-with-its-spec",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        summary: '{iops:.0f}'\n",
        [
            "7: group 'g' rule 'writer': summary: placeholder {iops:.0f} must name a frame column (namespace, pod, container, node, read_iops, write_iops, total_iops, read_bps, write_bps, limit_write_iops, limit_read_iops, limit_write_bps, limit_read_bps)"
        ],
    ),
    (
        # repr() would double the backslash the operator wrote.
        "bad-regex-shown-as-written",
        "groups:\n  - name: g\n    select:\n      excludeContainers: ['^istio-\\d+(']\n    rules:\n"
        + GOOD_RULE,
        [
            "4: group 'g': select: excludeContainers: bad regex '^istio-\\d+(': missing ), unterminated subpattern at position 10"
        ],
    ),
    (
        "selector-value-with-a-line-break",
        'groups:\n  - name: g\n    select:\n      podSelector: "tier in (data\\nbase)"\n    rules:\n'
        + GOOD_RULE,
        [
            "4: group 'g': select: podSelector: invalid label value 'data\\nbase': up to 63 characters of letters, digits, '-', '_', '.', starting and ending with a letter or digit"
        ],
    ),
]
