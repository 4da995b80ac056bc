"""``iops-controller test-rules FILE...``: run unit tests for rule files.

Exit status 0 when every test passes, 1 when a test fails or a file has a problem.
"""

import argparse
import sys
from typing import Any

from controller.rule_tests import RuleTestError, load_test_file, run_test_file


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    parser = subparsers.add_parser(
        "test-rules",
        help="run unit tests for rule files (like promtool test rules)",
        description="Run rule unit tests: each file names rule files, input series per "
        "container and the decisions expected at given times. Prints expected and got for "
        "every failed expectation.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="rule test file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    total = failed = 0
    for path in args.files:
        try:
            test_file = load_test_file(path)
        except RuleTestError as error:
            failed += 1
            for problem in error.problems:
                print(problem, file=sys.stderr)
            continue
        for result in run_test_file(test_file):
            total += 1
            status = "FAIL" if result.failures else "PASS"
            print(f"{status} {path}:{result.test.line} {result.test.name}")
            if result.failures:
                failed += 1
                for failure in result.failures:
                    print(failure)
    print(f"{total} tests, {failed} failed")
    return 1 if failed else 0
