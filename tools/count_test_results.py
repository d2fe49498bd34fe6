#!/usr/bin/env python3
"""Counts test cases from Bazel's test logs.

Usage: count_test_results.py TESTLOGS_DIR "LABEL LABEL ..."

For each test label, reads TESTLOGS_DIR/<package>/<name>/test.xml (JUnit XML:
GoogleTest writes one <testcase> per case, with result="skipped" or a
<skipped/> child for GTEST_SKIP). A label without a test.xml (it failed to
build, or was not run) counts as one failure. Prints "N passed, N failed,
N skipped" and exits 1 when anything failed or no test ran.
"""
import os
import sys
import xml.etree.ElementTree as ET


def count_file(path):
    passed = failed = skipped = 0
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    if not cases:
        # A non-gtest test (e.g. a shell test): Bazel's generated XML still
        # carries a testsuite with failures/errors attributes.
        suites = list(root.iter("testsuite")) or [root]
        bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        return (0, 1, 0) if bad else (1, 0, 0)
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("result") == "skipped" or case.find("skipped") is not None \
                or case.get("status") == "notrun":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    logs, labels = sys.argv[1], sys.argv[2].split()
    passed = failed = skipped = 0
    for label in labels:
        package, _, name = label.lstrip("/").partition(":")
        path = os.path.join(logs, package, name, "test.xml")
        if not os.path.exists(path):
            print(f"no results for {label} (did not build or did not run)", file=sys.stderr)
            failed += 1
            continue
        try:
            p, f, s = count_file(path)
        except ET.ParseError as e:
            print(f"unreadable results for {label}: {e}", file=sys.stderr)
            p, f, s = 0, 1, 0
        passed, failed, skipped = passed + p, failed + f, skipped + s
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
