# ruff: noqa: E501  -- the expected messages are quoted whole, as users see them
"""Malformed rule files at the YAML level (tags, merge keys, aliases, nesting, characters) and
numbers out of range, quoted ones included: test cases for ``test_rule_files_malformed``."""

from tests.controller.rule_file_texts import GOOD_RULE

# (test id, rule file text, expected problems as "line: message")
YAML_CASES: list[tuple[str, str, list[str]]] = [
    (
        "yaml-syntax",
        "groups:\n  - name: g\n    rules: [\n",
        ["4: YAML syntax error: expected the node content, but found '<stream end>'"],
    ),
    (
        "yaml-bad-indent",
        "groups:\n  - name: g\n   rules: []\n",
        ["3: YAML syntax error: expected <block end>, but found '<block mapping start>'"],
    ),
    ("empty-file", "", ["empty rule file: expected 'groups:'"]),
    (
        "comments-only-file",
        "# groups moved to team.yaml\n",
        ["empty rule file: expected 'groups:'"],
    ),
    (
        "yaml-control-character",
        "groups:\n  - name: g\x00\n",
        ["2: YAML error: #x0000 is not allowed in YAML text"],
    ),
    (
        "yaml-python-tag",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: !!python/object:os.system {write_iops: 5}\n",
        ["6: YAML tag '!!python/object:os.system' not allowed: rule files hold plain YAML values"],
    ),
    (
        "yaml-custom-tag",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: !expr write_iops > 5\n        limit: {write_iops: 5}\n",
        ["5: YAML tag '!expr' not allowed: rule files hold plain YAML values"],
    ),
    (
        "yaml-merge-key",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {<<: {write_iops: 5}}\n",
        ["6: merge keys ('<<') are not supported: write the keys out"],
    ),
    (
        # The copy would be a duplicate rule reported at the anchor's line, not the alias's.
        "yaml-alias-of-a-rule",
        "groups:\n  - name: g\n    rules:\n      - &r {name: r, expr: write_iops > 5, limit: {write_iops: 5}}\n      - *r\n",
        [
            "5: alias *r: aliases of lists or mappings are not allowed (write the value out; aliases of single values are fine)"
        ],
    ),
    (
        # Nine aliases of nine aliases of nine...: exponential once expanded ("billion laughs").
        "yaml-alias-expansion",
        "a: &a [x, x, x]\nb: &b [*a, *a]\ngroups: *b\n",
        [
            "2: alias *a: aliases of lists or mappings are not allowed (write the value out; aliases of single values are fine)",
            "2: alias *a: aliases of lists or mappings are not allowed (write the value out; aliases of single values are fine)",
            "3: alias *b: aliases of lists or mappings are not allowed (write the value out; aliases of single values are fine)",
        ],
    ),
    (
        "yaml-deep-nesting",
        "groups: " + "[" * 5000 + "]" * 5000 + "\n",
        ["1: nested more than 32 levels deep"],
    ),
    (
        "limit-huge-float",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: 1.0e+400}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: must be a positive integer (IOPS, at most 1000000000) or an expression string, got 1.0e+400"
        ],
    ),
    (
        "limit-huge-integer",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: 1000000000000000000000000000000}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: must be a positive integer (IOPS, at most 1000000000) or an expression string, got 1000000000000000000000000000000"
        ],
    ),
    (
        # Python refuses to convert integers of more than 4300 digits (a ValueError).
        "limit-integer-too-long-to-read",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: "
        + "9" * 5000
        + "}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: must be a positive integer (IOPS, at most 1000000000) or an expression string, got an unreadable int ('999999999999999999999999999999999999999…')"
        ],
    ),
    (
        "expr-huge-integer",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 1"
        + "0" * 400
        + "\n        limit: {write_iops: 5}\n",
        ["5: group 'g' rule 'r': expr: number 10000000000000000000… (401 digits) is too large"],
    ),
    (
        "for-absurd",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        for: 99999999999h\n",
        [
            "7: group 'g' rule 'writer': for: invalid duration '99999999999h': longer than 36525d (100 years)"
        ],
    ),
    (
        "for-over-24h",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        for: 24h1s\n",
        ["7: group 'g' rule 'writer': for: '24h1s' is longer than the maximum of 24h"],
    ),
    (
        "release-for-over-24h",
        "groups:\n  - name: g\n    rules:\n"
        + GOOD_RULE
        + "    release:\n      expr: write_iops < 5\n      for: 2d\n",
        ["9: group 'g': release: for: '2d' is longer than the maximum of 24h"],
    ),
    (
        "date-that-does-not-exist",
        "groups:\n  - name: g\n    rules:\n" + GOOD_RULE + "        severity: 2026-13-45\n",
        [
            "7: group 'g' rule 'writer': severity: expected a string, got an unreadable timestamp ('2026-13-45')"
        ],
    ),
    (
        # DESIGN: a limit is a positive integer or an expression string, so a quoted value is an expression; one that names no column is the same number for every container and is held to a number's rules at load time (the engine would silently clamp it to the floor).
        "limit-quoted-zero",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: '0'}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: expression '0' is always 0: a limit must be a positive integer (IOPS, at most 1000000000)"
        ],
    ),
    (
        "limit-quoted-negative",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: '-5'}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: expression '-5' is always -5: a limit must be a positive integer (IOPS, at most 1000000000)"
        ],
    ),
    (
        "limit-quoted-fraction",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {read_bps: '1.5'}\n",
        [
            "6: group 'g' rule 'r': limit.read_bps: expression '1.5' is always 1.5: a limit must be a positive integer (bytes per second, at most 10000000000000)"
        ],
    ),
    (
        "limit-quoted-over-ceiling",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: '1000000001'}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: expression '1000000001' is always 1000000001: a limit must be a positive integer (IOPS, at most 1000000000)"
        ],
    ),
    (
        # Unquoted 1e400 is a string in YAML 1.1 (no dot), so it lands here too.
        "limit-quoted-overflow",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: '1e400'}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: expression '1e400' is always inf: a limit must be a positive integer (IOPS, at most 1000000000)"
        ],
    ),
    (
        "limit-constant-expression-overflow",
        "groups:\n  - name: g\n    rules:\n      - name: r\n        expr: write_iops > 5\n        limit: {write_iops: '9**9**9**9'}\n",
        [
            "6: group 'g' rule 'r': limit.write_iops: expression '9**9**9**9' is always inf: a limit must be a positive integer (IOPS, at most 1000000000)"
        ],
    ),
]
