#!/bin/bash
# rename.sh — what a rename costs fsindexd: time from mv(1) until the job
# that takes it in has committed (so `fsindex find` shows the new path), the
# jobs the daemon ran for it (its debug log),
# and what the index wrote (LMDB's last transaction and pages in use, from
# mdb_stat).
#
# usage: rename.sh [--subtree N] [--siblings N] [--modes "fanotify inotify"]
#                  [--dir WORKDIR]
#
#   --subtree N    entries in the directory renamed (default 100000: N/1000
#                  directories of 1000 empty files)
#   --siblings N   empty files beside it, and in the directory it is moved
#                  into (default 20000)
#   --modes LIST   FSINDEXD_WATCH values (default "fanotify inotify")
#   --dir WORKDIR  work directory (default /tmp/fsindex-bench-rename)
#
# Root only: the tree lives on a tmpfs mounted for the run at WORKDIR/mnt.
# Three renames per mode: the big directory within its parent (mv D D2),
# into another directory of --siblings entries (mv D2 other/D3), and one
# file.  Prints a markdown table on stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
subtree=100000 siblings=20000 modes="fanotify inotify" work=/tmp/fsindex-bench-rename
while [ $# -gt 0 ]; do
	case $1 in
	--subtree) subtree=$2; shift ;;
	--siblings) siblings=$2; shift ;;
	--modes) modes=$2; shift ;;
	--dir) work=$2; shift ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "rename.sh: needs root (tmpfs mount, fanotify)" >&2; exit 1; }
FSINDEX=${FSINDEX:-$top/fsindex} FSINDEXD=${FSINDEXD:-$top/fsindexd}
NL=$top/tests/helpers/notify-listen
[ -x "$NL" ] || make -C "$top" tests/helpers/notify-listen >&2
mkdir -p "$work/mnt"
mountpoint -q "$work/mnt" || mount -t tmpfs -o size=2g fsindex-bench "$work/mnt"
dpid= lpid=
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	umount "$work/mnt" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

R=$work/mnt/root
mk_tree() {
	rm -rf "$R"
	mkdir -p "$R/D" "$R/other"
	python3 - "$R" "$subtree" "$siblings" <<'EOF'
import os, sys
r, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(n // 1000):
    p = f"{r}/D/d{d}"
    os.mkdir(p)
    for f in range(999):
        open(f"{p}/f{f}", "w").close()
for f in range(s):
    open(f"{r}/s{f}", "w").close()
    open(f"{r}/other/o{f}", "w").close()
EOF
}
# pages DB: "last txn / pages used" of the index.
pages() {
	mdb_stat -e "$1" | awk '/Number of pages used/ { p = $NF } /Last transaction ID/ { t = $NF }
		END { printf "%s %s", t, p }'
}
# lag T0 LINES: ms from T0 until the daemon's log, past its first LINES
# lines, says a job about it committed (a rescan's or the renames' summary,
# logged after the commit); polling `fsindex find` instead would measure
# the find, which reads the whole index.
lag() {
	local t0=$1 lines=$2
	until tail -n +$((lines + 1)) "$work/d.err" | grep -E "rescanned|renames:" >/dev/null; do
		sleep 0.002
	done
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
# one DESC FROM TO PROBE: time one rename and say what it cost.
one() {
	local desc=$1 from=$2 to=$3 probe=$4 before after t0 ms lines
	sleep 1	# nothing pending
	before=$(pages "$DB")
	lines=$(wc -l <"$work/d.err")
	t0=$(date +%s%N)
	mv "$from" "$to"
	ms=$(lag "$t0" "$lines")
	sleep 1	# anything after it
	"$FSINDEX" find --db "$DB" "$probe" | grep -xF -- "$probe" >/dev/null ||
		echo "rename.sh: $probe not in the index" >&2
	after=$(pages "$DB")
	jobs=$(tail -n +$((lines + 1)) "$work/d.err" | grep -E "rescanned|renamed|rename" |
		sed -e "s|$R|R|g" -e 's/^.*fsindexd[^:]*: //' | tr '\n' ';' | cut -c1-300)
	printf '| %s | %s | %s ms | txn %s→%s, pages %s→%s | %s |\n' "$mode" "$desc" "$ms" \
		"${before% *}" "${after% *}" "${before#* }" "${after#* }" "$jobs"
}

echo "| mode | rename | time to committed | index (mdb_stat -e) | daemon jobs (debug log) |"
echo "|:---|:---|---:|:---|:---|"
for mode in $modes; do
	mk_tree
	DB=$work/db-$mode
	rm -rf "$DB"
	printf '[index]\nroots = %s\n' "$R" >"$work/conf"
	"$NL" "$work/nl.sock" >/dev/null & lpid=$!
	sleep 0.2
	NOTIFY_SOCKET=$work/nl.sock FSINDEXD_DEBUG=1 FSINDEXD_WATCH=$mode XDG_RUNTIME_DIR=$work \
		"$FSINDEXD" --user --config "$work/conf" --db "$DB" 2>"$work/d.err" & dpid=$!
	until grep -q "scanned '$R'" "$work/d.err" 2>/dev/null; do sleep 0.1; done
	one "dir, $subtree below, $siblings siblings: mv D D2" "$R/D" "$R/D2" "$R/D2/d0/f1"
	one "same dir into other/ ($siblings entries)" "$R/D2" "$R/other/D3" "$R/other/D3/d0/f1"
	one "one file: mv s1 s1.new" "$R/s1" "$R/s1.new" "$R/s1.new"
	kill "$dpid"; wait "$dpid" 2>/dev/null || true; dpid=
	kill "$lpid" 2>/dev/null || true; lpid=
	rm -f "$work/nl.sock"
done
