#!/usr/bin/env bash
# //tools:shellcheck_test: every shell script the test has as data (each
# package's :shell_scripts filegroup; tools/lint checks that every script
# tools/shell_scripts finds is among them) passes shellcheck. Where the
# tool is not installed the test is reported as skipped, with the reason.
set -uo pipefail
export PATH=/usr/bin:/bin:${PATH:-}
case_name=EveryShellScriptPassesShellcheck
r=${TEST_SRCDIR:?run me with bazel test}/${TEST_WORKSPACE:-kmesh_ipsec}

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

if ! command -v shellcheck >/dev/null 2>&1; then
  echo "SKIPPED: shellcheck is not installed (apt-get install shellcheck)"
  report skipped "shellcheck is not installed (apt-get install shellcheck)"
  exit 0
fi
cd "$r" || exit 1
mapfile -t scripts < <(find -L . -path ./external -prune -o -type f -print |
  sed 's|^\./||' | grep -v -E '(^|/)(shellcheck_test|[^/]*\.runfiles)' |
  while IFS= read -r f; do
    case "$f" in
      *.sh) echo "$f" ;;
      *) head -n 1 "$f" 2>/dev/null | grep -qE '^#! ?(/usr)?/bin/(env )?(ba|da)?sh( |$)' && echo "$f" ;;
    esac
  done | sort)
mapfile -t scripts < <(printf '%s\n' "${scripts[@]}" "tools/shellcheck_test.sh" | sort -u)
[ ${#scripts[@]} -gt 1 ] || { report failed "no shell scripts among the test's data"; exit 1; }
echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p') on ${#scripts[@]} scripts"
if shellcheck -x "${scripts[@]}"; then
  report passed ""
  echo "PASS: ${#scripts[@]} scripts pass shellcheck"
  exit 0
fi
report failed "shellcheck found problems (see the test log)"
exit 1
