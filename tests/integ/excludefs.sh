#!/bin/bash
# SPDX-License-Identifier: MIT
#
# excludefs.sh - fsindexd's exclude-fs: below a root, a mount of an excluded
# type is indexed as an empty directory (the mount point, not its files);
# other mounts are walked.  find(1) with -prune is the oracle.  A change
# inside the excluded mount stays out; a reload without the exclusion takes
# its files in, one with it again drops them.  Needs root (mounts).

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
NL=$top_builddir/tests/helpers/notify-listen
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"
[ -x "$NL" ] || bail "no test helpers (make check builds them)"
[ "$(id -u)" = 0 ] || skip_all "mounts need root"

R=$T/root
mkdir -p "$R/r" "$R/t" "$R/plain" "$T/run"
mount -t ramfs ramfs "$R/r" 2>/dev/null || skip_all "cannot mount ramfs"
_mounts+=("$R/r")
mount -t tmpfs tmpfs "$R/t" || bail "cannot mount tmpfs"
_mounts+=("$R/t")
mkdir -p "$R/r/sub"
echo a >"$R/r/sub/in-ramfs"
echo b >"$R/t/in-tmpfs"
echo c >"$R/plain/f"
export XDG_RUNTIME_DIR=$T/run
CONF=$T/fsindex.conf
DB=$T/db

write_conf() { # write_conf [exclude-fs value]
	printf '[index]\nroots = %s\n' "$R" >"$CONF"
	[ $# -gt 0 ] && printf 'exclude-fs = %s\n' "$1" >>"$CONF"
}
# same_as_pruned: the index under $R is find's, with what lies in $R/r left out.
same_as_pruned() {
	cmp -s <(find -P "$R" -path "$R/r/*" -prune -o -print0 | sort -z) \
		<(FSI find -0 "$R" | sort -z)
}
same_as_find() {
	cmp -s <(find -P "$R" -print0 | sort -z) <(FSI find -0 "$R" | sort -z)
}

write_conf "ramfs fuse.*"
"$NL" "$T/n.sock" >"$T/n.notify" &
track_pid $!
n=100; while [ ! -S "$T/n.sock" ] && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
NOTIFY_SOCKET=$T/n.sock FSINDEXD_WATCH=inotify "$FSINDEXD" --user --config "$CONF" --db "$DB" \
	2>"$T/d.err" &
dpid=$!
track_pid $dpid
ok "the start-up reconcile is done" wait_for "$T/d.err" "scanned '$R'" 20
ok "no note that exclude-fs is not applied" sh -c "! grep -q 'not applied' '$T/d.err'"
ok "the index is find's with the ramfs mount's files pruned" same_as_pruned
same_as_pruned || diag "$(FSI find "$R" 2>&1)"
ok "...the ramfs mount point itself is indexed" index_has "$R/r"
ok "...the tmpfs mount, not excluded, is walked" index_has "$R/t/in-tmpfs"

echo x >"$R/r/live-ramfs"
echo y >"$R/t/live-tmpfs"
poll_until "a file made on the tmpfs mount appears" index_has "$R/t/live-tmpfs"
sleep 1
ok "a file made on the excluded mount does not" index_lacks "$R/r/live-ramfs"
ok "...and the index is still find's, pruned" same_as_pruned

write_conf
"$FSINDEX" reload --user 2>"$T/reload.err"
is "$?" 0 "reload without exclude-fs"
poll_until "...takes in the files of the ramfs mount" index_has "$R/r/sub/in-ramfs"
poll_until "...and the index equals find over the root" same_as_find ||
	diag "$(diff <(find -P "$R" | sort) <(FSI find "$R" | sort))"

write_conf ramfs
"$FSINDEX" reload --user 2>"$T/reload.err"
is "$?" 0 "reload with exclude-fs = ramfs again"
poll_until "...drops the files of the ramfs mount" index_lacks "$R/r/sub/in-ramfs"
poll_until "...and the index is find's, pruned" same_as_pruned ||
	diag "$(diff <(find -P "$R" -path "$R/r/*" -prune -o -print | sort) <(FSI find "$R" | sort))"

kill -TERM "$dpid"
wait_timeout "$dpid" 10
is "$rc" 0 "the daemon stops with exit 0"
done_testing
