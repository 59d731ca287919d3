#!/bin/bash
# SPDX-License-Identifier: MIT
#
# sync.sh - `find --sync` against a real fsindexd, in each watch mode the
# machine has (inotify; fanotify as root; none, where sync reconciles): a
# file made just before the call is always found, with no polling (50 in a
# row); a deleted one is gone, a renamed one at its new name only, a new
# tree found whole; the cookie file is neither indexed nor left on disk.
# The request is anyone's (setpriv), a path under no root is refused.
# Without a daemon --sync is a note and the answer is the same; a daemon
# stopped with SIGSTOP costs --sync-timeout and a warning; one killed
# mid-wait a warning at once.  The exit status never changes.  The
# round-trip latency (median of 20) is reported as a diagnostic.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
CTL=$top_builddir/tests/helpers/ctl-send
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"
[ -x "$CTL" ] || bail "no test helpers (make check builds them)"

mkdir -p "$T/run"
export XDG_RUNTIME_DIR=$T/run
SOCK=$T/run/fsindex/control
unset NOTIFY_SOCKET

# start MODE ROOT [TAG]: fsindexd --user over ROOT with FSINDEXD_WATCH=MODE,
# its log in $T/TAG.err (TAG defaults to MODE); sets $dpid.
start() {
	local tag=${3:-$1}
	printf '[index]\nroots = %s\n' "$2" >"$T/$tag.conf"
	FSINDEXD_WATCH=$1 "$FSINDEXD" --user --config "$T/$tag.conf" --db "$DB" 2>"$T/$tag.err" &
	dpid=$!
	track_pid $dpid
	wait_for "$T/$tag.err" "scanned '$2'" || diag "no start-up reconcile of $2"
}
stop() {
	kill -TERM "$dpid" 2>/dev/null
	wait_timeout "$dpid" 10
}
# synced PATH: `find --sync PATH` lists PATH exactly, at once.
synced() {
	FSI find --sync "$1" 2>>"$T/sync.err" | grep -qxF -- "$1"
}
# median_ms CMD...: the median wall time of 20 runs of CMD, in ms.
median_ms() {
	local i t0
	for i in $(seq 20); do
		t0=$(now_ms)
		"$@" >/dev/null 2>&1
		echo $(($(now_ms) - t0))
	done | sort -n | sed -n 10p
}

modes="inotify none"
is_root && modes="fanotify $modes"
for mode in $modes; do
	L=$T/root-$mode
	DB=$T/db-$mode
	mkdir -p "$L/old"
	echo 1 >"$L/old/f1"
	start "$mode" "$L"
	if [ "$mode" = fanotify ] && ! "$FSINDEX" status --user 2>/dev/null | grep -qF "root $L: fanotify"; then
		skip "fanotify: the kernel grants no filesystem mark here"
		stop
		continue
	fi
	: >"$T/sync.err"
	miss=0
	for i in $(seq 50); do
		echo "$i" >"$L/u$i"
		synced "$L/u$i" || miss=$((miss + 1))
	done
	is "$miss" 0 "$mode: 50 files, each found by the find --sync right after its creation"
	miss=0
	mkdir -p "$L/old/a/b"
	synced "$L/old/a/b" || miss=1
	for i in $(seq 20); do
		echo "$i" >"$L/old/a/b/v$i"
		synced "$L/old/a/b/v$i" || miss=$((miss + 1))
	done
	is "$miss" 0 "$mode: 20 files made two levels below the root (not where the cookie is): each found"
	is "$(cat "$T/sync.err")" "" "$mode: ... with nothing on stderr"
	rm "$L/u7"
	FSI find --sync "$L/u7" >"$T/out" 2>&1
	is "$?:$(cat "$T/out")" "1:" "$mode: a file deleted just before is gone (exit 1, no match)"
	mv "$L/u8" "$L/renamed"
	FSI find --sync "$L/u8" >"$T/out" 2>&1
	FSI find --sync "$L/renamed" >>"$T/out" 2>&1
	is "$(cat "$T/out")" "$L/renamed" "$mode: a file renamed just before is at its new name only"
	mkdir -p "$L/n1/n2/n3"
	echo x >"$L/n1/n2/n3/leaf"
	ok "$mode: a new tree made just before is found down to its leaf" synced "$L/n1/n2/n3/leaf"
	echo dup >"$L/old/d1"
	cp "$L/old/d1" "$L/old/d2"
	ok "$mode: a copy made just before is found" synced "$L/old/d2"
	FSI find --sync .fsindex-sync >"$T/out" 2>&1
	is "$?:$(cat "$T/out")" "1:" "$mode: no cookie file in the index"
	is "$(find "$L" -name '.fsindex-sync*' | wc -l)" 0 "$mode: ... nor on disk"
	ok "$mode: the index equals find over the root" \
		cmp -s <(find -P "$L" -print0 | sort -z) <(FSI find -0 --sync "$L" | sort -z)
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" "$SOCK" "sync")
	is "$out" OK "$mode: sync is allowed to an unprivileged caller"
	is "$("$CTL" "$SOCK" "sync $L/old")" OK "$mode: sync PATH below a root"
	like "$("$CTL" "$SOCK" "sync $T/elsewhere")" "^ERR sync: the path is under no root" \
		"$mode: sync of a path under no root is refused"
	diag "$mode: find --sync round trip, median of 20: $(median_ms FSI find --sync "$L/u1") ms" \
		"(without --sync: $(median_ms FSI find "$L/u1") ms)"

	# A stopped daemon costs the timeout; the answer and exit status are find's.
	FSI find "$L/u1" >"$T/plain.out" 2>/dev/null
	prc=$?
	kill -STOP "$dpid"
	FSI find --sync-timeout 1 "$L/u1" >"$T/out" 2>"$T/err"
	is "$?" "$prc" "$mode: daemon stopped: the exit status is that without --sync"
	like "$(cat "$T/err")" "find: --sync: fsindexd did not confirm within 1.000 s" \
		"$mode: ... a warning after --sync-timeout"
	ok "$mode: ... and the answer from the index" cmp -s "$T/plain.out" "$T/out"
	# Killed mid-wait: the connection closes, the wait ends (not after 50 s).
	FSI find --sync-timeout 50 "$L/u1" >"$T/out" 2>"$T/err" &
	fpid=$!
	sleep 0.3
	kill -KILL "$dpid"
	wait_timeout "$fpid" 20
	is "$rc" 0 "$mode: daemon killed mid-wait: find still answers, exit 0"
	like "$(cat "$T/err")" "closed the connection without an answer" "$mode: ... with a warning"
	wait "$dpid" 2>/dev/null
done

# ---- a root read-only to the daemon (the installed unit's ProtectSystem=strict) ------

# The daemon watches a read-only bind mount of a tree changed through its
# writable path: no cookie can be made there, and none is needed.
if is_root; then
	db_kept=$DB	# the sections below use the last mode's index
	W=$T/rw
	RO=$T/ro
	mkdir -p "$W/d" "$RO"
	if mount --bind "$W" "$RO" 2>/dev/null && mount -o remount,bind,ro "$RO" 2>/dev/null; then
		_mounts+=("$RO")
		for mode in fanotify inotify; do
			DB=$T/db-ro-$mode
			start "$mode" "$RO" "ro-$mode"
			: >"$T/sync.err"
			miss=0
			for i in $(seq 20); do
				echo "$i" >"$W/d/$mode$i"
				synced "$RO/d/$mode$i" || miss=$((miss + 1))
			done
			is "$miss" 0 "read-only root, $mode: 20 files made through the writable path, each found by find --sync"
			unlike "$(cat "$T/ro-$mode.err" "$T/sync.err")" "warning|cannot create" \
				"...with no warning from the daemon or the client"
			ok "...and no reconcile for the syncs (one scan only)" \
				test "$(grep -c "scanned '$RO'" "$T/ro-$mode.err")" -eq 1
			stop
		done
	else
		skip "read-only root: cannot make a read-only bind mount"
	fi
	DB=$db_kept
fi

# ---- no daemon ----------------------------------------------------------------------

rm -rf "$T/run/fsindex"
FSI find --sync "$L/renamed" >"$T/out" 2>"$T/err"
is "$?" 0 "no daemon: exit 0"
is "$(cat "$T/out")" "$L/renamed" "no daemon: the answer from the index"
like "$(cat "$T/err")" "find: --sync: no fsindexd at '.*': answering from the index as it is" \
	"no daemon: a note on stderr"
is "$(wc -l <"$T/err")" 1 "no daemon: one line"

# ---- usage ----------------------------------------------------------------------------

for bad in 0 -1 x 1e9 nan; do
	FSI find --sync-timeout "$bad" x >/dev/null 2>&1
	is "$?" 2 "--sync-timeout $bad: usage error"
done
"$FSINDEX" find --help >"$T/help" 2>&1
sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' "$top_srcdir/man/fsindex.1" >"$T/man1"
for o in --sync --sync-timeout; do
	ok "find --help has $o" grep -qF -- "$o" "$T/help"
	ok "fsindex(1) documents $o" grep -qF -- "$o" "$T/man1"
done

done_testing
