#!/bin/bash
# progress.sh - on a terminal, scan and dups draw a progress line on stderr
# (redrawn with "\r\033[K"); when stderr is not a terminal they draw nothing.
# script(1) from util-linux provides the terminal.
set -u
: "${FSINDEX:?FSINDEX must name the fsindex binary}"
echo "1..6"
if ! command -v script >/dev/null 2>&1; then
	for i in 1 2 3 4 5 6; do echo "ok $i # SKIP script(1) not installed"; done
	exit 0
fi
# A chroot without /dev/pts (or a container without ptys) has no terminal to give.
if ! script -qec true /dev/null >/dev/null 2>&1; then
	for i in 1 2 3 4 5 6; do echo "ok $i # SKIP script(1) cannot open a pseudo-terminal here (no /dev/pts?)"; done
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fsindex-progress.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi; }
# script(1) now and then loses the last output of a short-lived child; what
# is drawn shows up within five runs.
# on_tty LOG COMMAND ERE...: run COMMAND on a terminal until its output, all
# runs' together in LOG, matches every ERE.
on_tty() {
	local log=$1 cmd=$2 i re
	shift 2
	for i in 1 2 3 4 5; do
		script -qec "$cmd" "$log.$i" >/dev/null 2>&1
		cat "$log".* >"$log"
		for re; do
			grep -aqE "$re" "$log" || continue 2
		done
		return
	done
}

# Big enough that the 200 ms redraw fires at least once.
for d in $(seq 1 300); do
	mkdir -p "$tmp/t/d$d"
	for f in $(seq 1 40); do echo "$((d % 50)) $f" >"$tmp/t/d$d/f$f"; done
done
# A slow terminal run is fine; what matters is what reaches it.
on_tty "$tmp/tty.scan" "'$FSINDEX' scan --db '$tmp/db' '$tmp/t'" 'scanned 301 dirs' \
	$'\r\033\\[K[0-9]+ dirs, [0-9]+ files, [0-9]+ errors, [0-9]+ pending'
ok "scan on a terminal prints its summary" "grep -q 'scanned 301 dirs, 12000 files, 0 errors' '$tmp/tty.scan'"
ok "... and draws a progress line (dirs, files, errors, pending)" \
	"grep -aq \$'\\r\\033\\[K[0-9]* dirs, [0-9]* files, [0-9]* errors, [0-9]* pending' '$tmp/tty.scan'"
"$FSINDEX" scan --db "$tmp/db2" "$tmp/t" 2>"$tmp/err.scan"
ok "scan with stderr not a terminal draws nothing" "! grep -aq \$'\\r' '$tmp/err.scan'"

on_tty "$tmp/tty.dups" "'$FSINDEX' dups --no-index '$tmp/t' >/dev/null" 'share a size' \
	'reading [a-z0-9 ]*: [0-9]*/[0-9]* files, [0-9.]* MiB \([0-9.]* MiB/s\)'
ok "dups on a terminal reports what it read" "grep -aq 'files, .* share a size' '$tmp/tty.dups'"
ok "... and draws the reading stage with files, bytes and rate" \
	"grep -aq 'reading [a-z0-9 ]*: [0-9]*/[0-9]* files, [0-9.]* MiB ([0-9.]* MiB/s)' '$tmp/tty.dups'"
"$FSINDEX" dups --no-index "$tmp/t" >/dev/null 2>"$tmp/err.dups"
ok "dups with stderr not a terminal draws nothing" "! grep -aq \$'\\r' '$tmp/err.dups'"
