#!/bin/bash
# SPDX-License-Identifier: MIT
#
# renames-live.sh - fsindexd applies a rename the kernel names exactly
# (fanotify FAN_RENAME, an inotify cookie pair) as one record moved, and
# falls back to rescanning both directories when anything does not match.
# Under inotify and under fanotify: a file, a directory of 10k+ entries,
# across directories, onto an existing name, a fast chain (also through a
# name that was taken), a swap
# (RENAME_EXCHANGE), a directory renamed with a new file or tree in it, out
# of the root and back in.  After each the index must equal find(1) over the root,
# inode numbers and types included; the daemon's debug log must say the
# rename was applied in place ("renamed ... (one record)") where it can be,
# and that no rescan ran for it, so a silent fallback fails the test.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
NL=$top_builddir/tests/helpers/notify-listen
XCHG=$top_builddir/tests/helpers/rename-exchange
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"
[ -x "$NL" ] && [ -x "$XCHG" ] || bail "no test helpers (make check builds them)"
export XDG_RUNTIME_DIR=$T/run
mkdir -p "$T/run" "$T/outside"

start_daemon() {
	local tag=$1
	shift
	"$NL" "$T/$tag.sock" >"$T/$tag.notify" &
	track_pid $!
	n=100
	while [ ! -S "$T/$tag.sock" ] && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
	NOTIFY_SOCKET=$T/$tag.sock FSINDEXD_DEBUG=1 "$FSINDEXD" --user "$@" 2>"$T/$tag.err" &
	dpid=$!
	track_pid $dpid
}
# same_as_find ROOT: the index holds exactly find's entries under ROOT, with
# their inode numbers and types (a record moved to the wrong name shows).
same_as_find() {
	cmp -s <(find -P "$1" -printf '%i %y %p\0' | sort -z) \
		<(FSI find --printf '%i %y %p\0' "$1" | sort -z)
}
# log_since N: the daemon's log after its first N lines.
log_since() {
	tail -n +$(($1 + 1)) "$LOG"
}
mark() {
	wc -l <"$LOG"
}
# in_place DESC FROM TO N: the log after line N says FROM was renamed to TO
# in place, and no directory was rescanned for it.
in_place() {
	local desc=$1 from=$2 to=$3 since=$4
	ok "$desc: applied as one record" \
		grep -qF "renamed '$from' to '$to' in the index (one record)" <(log_since "$since")
	nok "$desc: ...with no rescan" grep -qE "rescanned|not applied" <(log_since "$since") ||
		diag "$(log_since "$since" | head -20)"
}
# converge DESC: the index equals find over the root, within 20 s.
converge() {
	poll_until "$1: the index equals find over the root" same_as_find "$L"
}

for mode in inotify fanotify; do
	L=$T/live-$mode
	mkdir -p "$L/p1/sub/deep" "$L/p2" "$L/many" "$L/q"
	echo f >"$L/f1"
	echo g >"$L/f2"
	echo s >"$L/p1/sub/deep/s"
	echo q >"$L/q/old"
	# 10,400 entries below big, beside 2,000 in many.
	for d in $(seq 0 19); do
		mkdir -p "$L/big/d$d"
		(cd "$L/big/d$d" && touch f{0..518})
	done
	(cd "$L/many" && touch m{0..1999})
	printf '[index]\nroots = %s\n' "$L" >"$T/$mode.conf"
	DB=$T/db-$mode
	LOG=$T/$mode.err
	FSINDEXD_WATCH=$mode start_daemon "$mode" --config "$T/$mode.conf" --db "$DB"
	if ! wait_for "$LOG" "scanned '$L'" 60; then
		if [ "$mode" = fanotify ] && grep -q "cannot watch" "$LOG"; then
			skip "fanotify: renames" "fanotify refuses $L here"
			kill -TERM "$dpid"
			continue
		fi
		fail "$mode: the start-up reconcile"
		diag_file "$LOG"
		continue
	fi
	like "$("$FSINDEX" status --user 2>&1)" "root $L: $mode" "$mode: the root is watched by $mode"
	converge "$mode: start"

	n=$(mark)
	mv "$L/f1" "$L/f1.new"
	converge "$mode: a file renamed"
	in_place "$mode: a file renamed" "$L/f1" "$L/f1.new" "$n"

	n=$(mark)
	mv "$L/big" "$L/big2"
	converge "$mode: a directory of 10,420 entries renamed"
	in_place "$mode: a directory of 10,420 entries renamed" "$L/big" "$L/big2" "$n"

	n=$(mark)
	mv "$L/big2" "$L/many/big3"
	converge "$mode: the same moved into a directory of 2,000"
	in_place "$mode: the same moved into a directory of 2,000" "$L/big2" "$L/many/big3" "$n"

	n=$(mark)
	mv "$L/p1/sub" "$L/p2/sub"
	converge "$mode: a directory moved to another parent"
	in_place "$mode: a directory moved to another parent" "$L/p1/sub" "$L/p2/sub" "$n"

	# Onto an existing name: the old entry must go; that is a rescan's job.
	n=$(mark)
	mv "$L/f2" "$L/p2/sub/deep/s"
	converge "$mode: a file renamed over another"
	ok "$mode: ...not applied in place (overwritten), both directories rescanned" \
		grep -qF "rename of '$L/f2' to '$L/p2/sub/deep/s' not applied (the new name held another entry (overwritten))" \
		<(log_since "$n")

	# A chain, fast: one rename a to c if both fall in one settle window, two
	# applied renames if not; never a fallback.
	echo a >"$L/a"
	poll_until "$mode: a new file is indexed" index_has "$L/a"
	sleep 0.3
	n=$(mark)
	mv "$L/a" "$L/b" && mv "$L/b" "$L/p2/c"
	converge "$mode: mv a b; mv b p2/c"
	ok "$mode: ...applied in place" grep -qF "to '$L/p2/c' in the index (one record)" \
		<(log_since "$n")
	nok "$mode: ...with no rescan" grep -qE "rescanned|not applied" <(log_since "$n")

	# A chain through a name that was taken: b's old entry went, so no chain.
	echo a >"$L/a" && echo b >"$L/b"
	poll_until "$mode: two new files are indexed" index_has "$L/b"
	sleep 0.3
	n=$(mark)
	mv "$L/a" "$L/b" && mv "$L/b" "$L/p2/d"
	converge "$mode: mv a b (b taken); mv b p2/d"
	ok "$mode: ...not applied in place" grep -qE "rename of '$L/a' to '$L/(b|p2/d)' not applied" \
		<(log_since "$n")

	# A swap: two renames onto each other's names, merged into one: both moved.
	n=$(mark)
	"$XCHG" "$L/p2/c" "$L/f1.new"
	converge "$mode: two files swapped (RENAME_EXCHANGE)"
	ok "$mode: ...applied in place" grep -qE \
		"swapped '$L/(p2/c|f1.new)' and '$L/(p2/c|f1.new)' in the index \(two records\)" \
		<(log_since "$n")
	nok "$mode: ...with no rescan" grep -qE "rescanned|not applied" <(log_since "$n")
	mkdir -p "$L/x1/in" "$L/p2/x2"
	echo 1 >"$L/x1/in/one"
	echo 2 >"$L/p2/x2/two"
	poll_until "$mode: two directories to swap are indexed" index_has "$L/p2/x2/two"
	sleep 0.3
	n=$(mark)
	"$XCHG" "$L/x1" "$L/p2/x2"
	converge "$mode: two directories in two parents swapped (RENAME_EXCHANGE)"
	ok "$mode: ...applied in place" grep -qF "in the index (two records)" <(log_since "$n")

	# Renamed with a new file in it, in one window: the file is found at the new path.
	n=$(mark)
	echo new >"$L/q/new" && mv "$L/q" "$L/q2"
	converge "$mode: a new file, then its directory renamed"
	ok "$mode: ...the rename applied in place" \
		grep -qF "renamed '$L/q' to '$L/q2' in the index (one record)" <(log_since "$n")

	# The same with a new directory in it, whose tree is walked where it went.
	n=$(mark)
	mkdir -p "$L/q2/newdir/deeper" && echo x >"$L/q2/newdir/deeper/x" && mv "$L/q2" "$L/q3"
	converge "$mode: a new tree, then its parent renamed"
	ok "$mode: ...the rename applied in place" \
		grep -qF "renamed '$L/q2' to '$L/q3' in the index (one record)" <(log_since "$n")

	# mv a b, then a new a.
	n=$(mark)
	mv "$L/f1.new" "$L/f3" && echo again >"$L/f1.new"
	converge "$mode: mv f1.new f3; a new f1.new"
	ok "$mode: ...the rename applied in place" \
		grep -qF "renamed '$L/f1.new' to '$L/f3' in the index (one record)" <(log_since "$n")

	# Out of every root: the subtree goes; back in: it is scanned.
	mv "$L/many/big3" "$T/outside/big3"
	converge "$mode: a directory moved out of the root"
	mv "$T/outside/big3" "$L/back"
	converge "$mode: ...and back in under another name"
	ok "$mode: ...its files are found there" index_has "$L/back/d7/f500"

	kill -TERM "$dpid"
	wait_timeout "$dpid" 10
	is "$rc" 0 "$mode: the daemon stops with exit 0"
done

done_testing
