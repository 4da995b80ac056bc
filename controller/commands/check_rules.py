"""``iops-controller check-rules PATH...``: check rule files, print every problem or a summary.

Exit status 0 when every path checks out, 1 when any has a problem.
"""

import argparse
import sys
from collections import Counter
from typing import Any

from controller.rule_files import RuleFileError, load_rules


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    parser = subparsers.add_parser(
        "check-rules",
        help="check rule files and report every problem as file:line: message",
        description="Check rule files (a file, or the *.yaml/*.yml files directly in a "
        "directory). Prints one summary line per file, or every problem found.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="rule file or directory")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    failed = False
    for path in args.paths:
        try:
            rules = load_rules(path)
        except RuleFileError as error:
            failed = True
            for problem in error.problems:
                print(problem, file=sys.stderr)
            continue
        groups = Counter(group.file for group in rules.groups)
        rule_counts = Counter(group.file for group in rules.groups for _ in group.rules)
        for file in rules.files:
            print(
                f"{file}: OK, {_count(groups[file], 'group')}, {_count(rule_counts[file], 'rule')}"
            )
    return 1 if failed else 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
