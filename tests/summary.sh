#!/bin/sh
# Tally the automake .trs files given as arguments into one closing line:
#   N passed, N failed, N skipped
# Every TAP result counts: PASS and XFAIL pass, SKIP skips, FAIL, XPASS and
# ERROR (a script that crashed or broke its plan) fail.
cat /dev/null "$@" | awk '
/^:test-result: (PASS|XFAIL)/ { p++ }
/^:test-result: SKIP/ { s++ }
/^:test-result: (FAIL|XPASS|ERROR)/ { f++ }
END { printf "%d passed, %d failed, %d skipped\n", p, f, s }'
