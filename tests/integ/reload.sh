#!/bin/bash
# SPDX-License-Identifier: MIT
#
# reload.sh - roots added and removed by `fsindex reload` on a real
# fsindexd, in inotify mode (and fanotify as root), each root on a tmpfs of
# its own when we may mount:
#  - a daemon started with no roots has no watch descriptor at all; a reload
#    that adds roots makes one, and their changes are taken in live;
#  - a root removed on reload loses its watches and marks (the daemon's
#    /proc/PID/fdinfo is the oracle: nothing left on that filesystem), its
#    entries leave the index, and changes under it are neither indexed nor
#    counted as events; the roots that stay are untouched (find(1));
#  - with nested roots, removing the outer one keeps the inner one whole in
#    the index and watched (its watches are handed over), the rest goes.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"

mkdir -p "$T/run"
export XDG_RUNTIME_DIR=$T/run
unset NOTIFY_SOCKET

# conf FILE ROOT...: a configuration with these roots (none: no roots line).
conf() {
	local f=$1
	shift
	{
		echo '[index]'
		[ $# -gt 0 ] && echo "roots = $*"
	} >"$f"
}
status_has() {
	"$FSINDEX" status --user 2>/dev/null | grep -qE -- "$1"
}
# events: what `status` says the daemon processed.
events() {
	"$FSINDEX" status --user 2>/dev/null | sed -nE 's/^events: ([0-9]+) processed.*/\1/p'
}
# watch_fds: the daemon's inotify and fanotify descriptors.
watch_fds() {
	ls -l "/proc/$dpid/fd" 2>/dev/null | grep -cE 'anon_inode:(inotify|\[fanotify\])'
}
# kdev DIR: the kernel's s_dev of DIR's filesystem, as fdinfo prints it (hex).
kdev() {
	printf '%x' $(($(stat -c %Hd "$1") << 20 | $(stat -c %Ld "$1")))
}
# marks_on DIR: the daemon's inotify watches and fanotify marks on DIR's
# filesystem, and (same filesystem as others) on directories of DIR's tree.
marks_on() {
	local sdev inos f
	sdev=$(kdev "$1")
	inos=$(find -P "$1" -type d -printf '%i\n' | while read -r i; do printf 'ino:%x \n' "$i"; done)
	for f in /proc/$dpid/fdinfo/*; do
		grep -E '^(inotify|fanotify) ' "$f" 2>/dev/null
	done | grep -E "sdev:$sdev( |$)" | {
		if [ "$2" = tree ]; then grep -F "$inos"; else cat; fi
	} | wc -l
}
# under ROOT: the index's paths at and below ROOT.
under() {
	FSI find 2>/dev/null | grep -E "^$1(/|$)" | sort
}
none_under() {
	test -z "$(under "$1")"
}
same_as_find() {
	cmp -s <(find -P "$1" | sort) <(under "$1")
}
stop() {
	kill -TERM "$dpid" 2>/dev/null
	wait_timeout "$dpid" 10
}

modes=inotify
is_root && modes="$modes fanotify"
for mode in $modes; do
	A=$T/$mode/a B=$T/$mode/b
	own_fs=yes
	try_mount_tmpfs "$A" size=64m && try_mount_tmpfs "$B" size=64m || own_fs=
	mkdir -p "$A/x/y" "$B/p/q" "$A/in/deep"
	echo a >"$A/x/y/f"
	echo b >"$B/p/q/g"
	echo i >"$A/in/deep/h"
	DB=$T/db-$mode
	C=$T/$mode.conf
	conf "$C"
	FSINDEXD_DEBUG=1 FSINDEXD_WATCH=$mode "$FSINDEXD" --user --config "$C" --db "$DB" 2>"$T/$mode.err" &
	dpid=$!
	track_pid $dpid
	poll_until "$mode: a daemon with no roots is idle" status_has '^state: watching 0 roots'
	is "$(watch_fds)" 0 "$mode: ...and holds no watch descriptor"

	conf "$C" "$A" "$B"
	"$FSINDEX" reload --user 2>"$T/reload.err"
	is "$?" 0 "$mode: reload adding two roots"
	poll_until "$mode: both are reconciled" status_has '^state: watching 2 roots'
	ok "$mode: ...and have a watch descriptor now" test "$(watch_fds)" -ge 1
	echo n >"$A/new"
	echo n >"$B/new"
	poll_until "$mode: a file made in the first added root is taken in live" index_has "$A/new"
	poll_until "$mode: ...and in the second" index_has "$B/new"
	[ -n "$own_fs" ] && ok "$mode: the daemon watches the second root's filesystem" \
		test "$(marks_on "$B")" -ge 1

	conf "$C" "$A"
	"$FSINDEX" reload --user 2>"$T/reload.err"
	is "$?" 0 "$mode: reload removing the second root"
	poll_until "$mode: the removed root's entries leave the index" none_under "$B" ||
		diag_file "$T/$mode.err"
	poll_until "$mode: ...the root left is as find(1) lists it" same_as_find "$A"
	if [ -n "$own_fs" ]; then
		is "$(marks_on "$B")" 0 "$mode: no watch or mark is left on the removed root's filesystem"
	else
		is "$(marks_on "$B" tree)" 0 "$mode: no watch is left on the removed root's directories"
	fi
	e0=$(events)
	echo z >"$B/later"
	mkdir "$B/dir"
	echo z >"$B/dir/f"
	mv "$B/p" "$B/p2"
	# Events settle in 50 ms; give any that were still seen ten times that.
	sleep 0.5
	is "$(events)" "$e0" "$mode: changes under the removed root cost no event"
	echo n >"$A/after"
	poll_until "$mode: a change under the root left is still taken in" index_has "$A/after"
	ok "$mode: ...but none under the removed one" none_under "$B"
	unlike "$(cat "$T/$mode.err")" 'cannot drop' "$mode: the drop logged no error"

	# Nested: A and A/in, then A goes; A/in stays whole and watched.
	conf "$C" "$A" "$A/in"
	"$FSINDEX" reload --user 2>"$T/reload.err"
	poll_until "$mode: nested roots reconciled" status_has '^state: watching 2 roots'
	conf "$C" "$A/in"
	"$FSINDEX" reload --user 2>"$T/reload.err"
	is "$?" 0 "$mode: reload removing the outer root"
	poll_until "$mode: only the inner root's entries stay" \
		eval 'test "$(FSI find 2>/dev/null | sort)" = "$(find -P "$A/in" | sort)"'
	echo n >"$A/in/deep/live"
	poll_until "$mode: the inner root is still watched" index_has "$A/in/deep/live"
	e0=$(events)
	echo z >"$A/x/outside"
	sleep 0.5
	is "$(events)" "$e0" "$mode: a change outside it, under the removed outer root, costs no event"
	ok "$mode: ...and is not indexed" index_lacks "$A/x/outside"
	stop
	is "$rc" 0 "$mode: the daemon stops with exit 0"
	ok "$mode: fsindex find still reads the index" same_as_find "$A/in"
done

done_testing
