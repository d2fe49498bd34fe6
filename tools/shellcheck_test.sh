#!/usr/bin/env bash
# //tools:shellcheck_test: every shell script in the repository (as
# tools/shell_scripts lists them) passes shellcheck. It reads the source tree
# this test file lives in (found through its runfiles symlink), so a new or
# changed script is checked without a BUILD edit; it is tagged external, so
# Bazel never caches the result. Without shellcheck or without the source
# tree (a git work tree) it reports the test as skipped, with the reason.
set -uo pipefail
export PATH=/usr/bin:/bin:${PATH:-}
case_name=EveryShellScriptPassesShellcheck

# JUnit result for tools/count_test_results.py: one case, passed, failed or
# skipped with the reason.
report() {
  local outcome=$1 message=$2 body=""
  message=${message//&/&amp;}
  message=${message//</&lt;}
  message=${message//\"/&quot;}
  case "$outcome" in
    skipped) body="<skipped message=\"$message\"/>" ;;
    failed) body="<failure message=\"$message\"/>" ;;
  esac
  [ -n "${XML_OUTPUT_FILE:-}" ] || return 0
  cat >"$XML_OUTPUT_FILE" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="shellcheck" tests="1" failures="$([ "$outcome" = failed ] && echo 1 || echo 0)" skipped="$([ "$outcome" = skipped ] && echo 1 || echo 0)">
<testcase name="$case_name" classname="shellcheck" $([ "$outcome" = skipped ] && echo 'result="skipped"')>$body</testcase>
</testsuite></testsuites>
XML
}

skip() {
  echo "SKIPPED: $1"
  report skipped "$1"
  exit 0
}

command -v shellcheck >/dev/null 2>&1 ||
  skip "shellcheck is not installed (apt-get install shellcheck)"
command -v git >/dev/null 2>&1 || skip "git is not installed"
self=$(readlink -f "${BASH_SOURCE[0]}")
root=$(cd "$(dirname "$self")/.." && pwd)
git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
  skip "the source tree ($root) is not a git work tree"

mapfile -t scripts < <("$root/tools/shell_scripts")
[ ${#scripts[@]} -gt 0 ] || { report failed "no shell scripts found"; exit 1; }
echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p') on ${#scripts[@]} scripts in $root"
if (cd "$root" && shellcheck "${scripts[@]}"); then
  report passed ""
  echo "PASS: ${#scripts[@]} scripts pass shellcheck"
  exit 0
fi
report failed "shellcheck found problems (see the test log)"
exit 1
