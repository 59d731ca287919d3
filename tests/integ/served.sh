#!/bin/bash
# SPDX-License-Identifier: MIT
#
# served.sh - the CLI on an index a running fsindexd serves.  `scan` and
# `rescan` of that index (however spelt: a symlink, its data.mdb) are
# handed to the daemon, which rescans, and return once that is committed:
# a file the daemon could not have seen otherwise (no live events,
# FSINDEXD_WATCH=none) is found right after, with no polling.  A path
# under none of its roots, and an unprivileged caller (setpriv), are
# refused naming the daemon (exit 2), the index unchanged.  Another index
# is scanned as always.  `find --sync` and `dups --indexed --sync` of an
# index the daemon does not serve warn so, and answer as without --sync.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"

mkdir -p "$T/run"
chmod 755 "$T/run"
export XDG_RUNTIME_DIR=$T/run
unset NOTIFY_SOCKET

R=$T/root
mkdir -p "$R/sub" "$T/elsewhere"
echo 1 >"$R/sub/one"
echo d >"$R/dup1"
echo d >"$R/dup2"
# The root through a symlink: the daemon resolves it, as the CLI does.
ln -s root "$T/rootlink"
printf '[index]\nroots = %s\n' "$T/rootlink" >"$T/conf"
FSINDEXD_DEBUG=1 FSINDEXD_WATCH=none "$FSINDEXD" --user --config "$T/conf" --db "$DB" \
	2>"$T/d.err" &
dpid=$!
track_pid $dpid
wait_for "$T/d.err" "scanned '$T/rootlink'" || bail "no start-up reconcile of $R"

# ---- scan and rescan are handed to the daemon ----------------------------------

echo new >"$R/new"
run_fsi "$T/out" "$T/err" scan "$R"
is "$rc" 0 "scan of a served index: exit 0"
like "$(cat "$T/err")" "'$R' rescanned by fsindexd \(pid $dpid\), which serves index '$DB'" \
	"...saying the daemon did it"
ok "...and a file no event told the daemon of is found right after" index_has "$R/new"
ok "...by the daemon (its log)" grep -q "rescanned '$R'" "$T/d.err"

echo two >"$R/sub/two"
ln -s "$DB" "$T/dblink"
"$FSINDEX" rescan --db "$T/dblink" --one-level "$R/sub" >/dev/null 2>"$T/err"
is "$?" 0 "rescan through a symlink to the index: exit 0"
like "$(cat "$T/err")" "rescanned by fsindexd \(pid $dpid\)" "...handed to the daemon too"
ok "...and its new file is found right after" index_has "$R/sub/two"

echo three >"$R/three"
"$FSINDEX" scan -q --hash --db "$DB/data.mdb" "$R" >/dev/null 2>"$T/err"
is "$?" 0 "scan -q --db DIR/data.mdb: the same index, handed over: exit 0"
like "$(cat "$T/err")" "options of scan are not passed on" "...noting that --hash is not passed on"
ok "...and the file is found" index_has "$R/three"

FSI find >"$T/before" 2>/dev/null
run_fsi "$T/out" "$T/err" scan "$T/elsewhere"
is "$rc" 2 "scan of a path under none of the daemon's roots: exit 2"
like "$(cat "$T/err")" "fsindexd \(pid $dpid\) serves index '$DB' and did not rescan '$T/elsewhere': .*under no root" \
	"...naming the daemon, the index and the reason"
FSI find >"$T/after" 2>/dev/null
ok "...and the index is unchanged" cmp -s "$T/before" "$T/after"

echo four >"$R/four"
setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$FSINDEX" scan --db "$DB" "$R" >/dev/null 2>"$T/err"
is "$?" 2 "an unprivileged caller: exit 2"
like "$(cat "$T/err")" "fsindexd \(pid $dpid\) serves index .*permission denied" \
	"...the daemon's refusal, naming it"
ok "...and nothing was rescanned" index_lacks "$R/four"

# ---- another index is not the daemon's -------------------------------------------

run_fsi "$T/out" "$T/err" scan --db "$T/other" "$R"
is "$rc" 0 "scan of another index: exit 0"
like "$(cat "$T/err")" "^fsindex: scanned [0-9]+ dirs" "...scanned here, as always"
ok "...with the new file" eval 'FSINDEX_DB= "$FSINDEX" find --db "$T/other" "$R/four" | grep -qxF "$R/four"'

FSI find --db "$T/other" "$R/four" >"$T/plain" 2>/dev/null
prc=$?
"$FSINDEX" find --sync --db "$T/other" "$R/four" >"$T/out" 2>"$T/err"
is "$?" "$prc" "find --sync of an index the daemon does not serve: the status without --sync"
like "$(cat "$T/err")" "find: --sync: fsindexd \(pid $dpid\) at '.*' serves another index, not '$T/other'" \
	"...and a warning saying so"
ok "...the answer from the index as it is" cmp -s "$T/plain" "$T/out"
"$FSINDEX" dups --indexed --sync --db "$T/other" "$R" >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "dups: --sync: fsindexd \(pid $dpid\) at '.*' serves another index" \
	"dups --indexed --sync of another index: the same warning"

echo five >"$R/five"
"$FSINDEX" find --sync --db "$DB" "$R/five" >"$T/out" 2>"$T/err"
is "$?" 0 "find --sync of the served index: found"
unlike "$(cat "$T/err")" "another index|warning" "...with no warning"

kill -TERM "$dpid"
wait_timeout "$dpid" 10
is "$rc" 0 "the daemon stops with exit 0"
echo six >"$R/six"
run_fsi "$T/out" "$T/err" scan "$R"
is "$rc" 0 "with the daemon gone, scan writes the index itself"
like "$(cat "$T/err")" "^fsindex: scanned [0-9]+ dirs" "...as always"

done_testing
