#!/usr/bin/env python3
"""Every test CTest registers from a Catch2 suite must select exactly one test case.

catch_discover_tests turns each test case's name into a CTest test that runs the suite binary
with the name as its filter. A name that the filter cannot carry (a ';' splits it into two CMake
list items, a leading '-' reads as an option, '[' starts a tag) selects nothing, and Catch2 v2
then exits 0: the test "passes" without running. This check fails on any such name.

usage: check_test_names.py CTEST BUILD_DIR
"""
import json
import os
import re
import subprocess
import sys


# Characters the Catch2 filter gives a meaning to; names holding one are also run through it.
SPECIAL = set("[]*~\\")


def names_of(binary, cache={}):
    if binary not in cache:
        # (Catch2 v2 exits with the number of names listed, not 0.)
        out = subprocess.run([binary, "--list-test-names-only"], capture_output=True, text=True)
        cache[binary] = {line for line in out.stdout.splitlines() if line.strip()}
    return cache[binary]


def main():
    ctest, build = sys.argv[1], sys.argv[2]
    listing = subprocess.run([ctest, "--show-only=json-v1"], cwd=build, capture_output=True, text=True, check=True)
    bad = []
    checked = 0
    for test in json.loads(listing.stdout)["tests"]:
        command = test.get("command") or []
        if not command or not os.path.basename(command[0]).startswith("mirage_tests_"):
            continue  # not a Catch2 suite (this check itself, scripts)
        checked += 1
        if len(command) < 2:
            bad.append(f"{test['name']!r} has no test-case filter")
            continue
        spec = re.sub(r"\\(.)", r"\1", command[1])  # catch_discover_tests escapes , [ ] with '\\'
        # A ';' cut the name in two, so the filter is no test case's whole name; a leading '-'
        # reads as an option.
        if spec not in names_of(command[0]) or spec.startswith("-"):
            bad.append(f"{test['name']!r}: filter {command[1]!r} is not a whole test-case name")
            continue
        if SPECIAL & set(spec):
            out = subprocess.run(command + ["--list-test-names-only"], capture_output=True, text=True)
            names = [line for line in out.stdout.splitlines() if line.strip()]
            if len(names) != 1:
                bad.append(f"{test['name']!r} selects {len(names)} test cases")
    for line in bad:
        print(line)
    print(f"{checked} Catch2 tests checked, {len(bad)} select zero or several test cases")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
