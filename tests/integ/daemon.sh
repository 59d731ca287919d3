#!/bin/bash
# SPDX-License-Identifier: MIT
#
# daemon.sh - fsindexd under a stand-in for systemd: the notification
# socket (tests/helpers/notify-listen) sees READY, STATUS, WATCHDOG,
# RELOADING and STOPPING; a bad configuration stops the start (exit 2,
# naming file and line) but not a reload; `fsindex status` and `reload`
# answer; the start-up reconcile takes in what changed (find(1) is the
# oracle); `rescan` over the control socket is refused to an unprivileged
# caller (setpriv) and done for root; SIGTERM mid-scan exits 0 within
# seconds; systemd-analyze verify accepts the units.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
NL=$top_builddir/tests/helpers/notify-listen
CTL=$top_builddir/tests/helpers/ctl-send
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"
[ -x "$NL" ] && [ -x "$CTL" ] || bail "no test helpers (make check builds them)"

R1=$T/root1 R2=$T/root2
mkdir -p "$R1/a/b" "$R2/c" "$T/run"
for f in a/f1 a/b/f2 top; do echo "$f" >"$R1/$f"; done
echo x >"$R2/c/g"
export XDG_RUNTIME_DIR=$T/run
SOCK=$T/run/fsindex/control
CONF=$T/fsindex.conf
# The minimal file of fsindex.conf(5).
printf '[index]\nroots = %s %s\ndb = %s\n' "$R1" "$R2" "$DB" >"$CONF"

# count FILE REGEX: matching lines.
count() {
	grep -cE -- "$2" "$1" 2>/dev/null
}
# start_daemon TAG ARGS...: notify-listen at $T/TAG.sock into $T/TAG.notify,
# fsindexd with stderr into $T/TAG.err; sets $dpid.
start_daemon() {
	local tag=$1
	shift
	"$NL" "$T/$tag.sock" >"$T/$tag.notify" &
	track_pid $!
	wait_for_sock "$T/$tag.sock"
	NOTIFY_SOCKET=$T/$tag.sock "$FSINDEXD" --user "$@" 2>"$T/$tag.err" &
	dpid=$!
	track_pid $dpid
}
wait_for_sock() {
	local n=100
	while [ ! -S "$1" ] && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
}
# ready_after_reload: a READY=1 line after the last RELOADING=1 one.
ready_after_reload() {
	awk '/^RELOADING=1/ { r = NR } /^READY=1/ && r && NR > r { ok = 1 } END { exit !ok }' "$T/d1.notify"
}
wait_ready_after_reload() {
	local n=200
	until ready_after_reload; do
		n=$((n - 1)); [ $n -eq 0 ] && return 1; sleep 0.05
	done
}

# ---- --help against the man page ---------------------------------------------------

"$FSINDEXD" --help >"$T/help" 2>&1
is "$?" 0 "fsindexd --help exits 0"
sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' "$top_srcdir/man/fsindexd.8" >"$T/man8"
missing=
for o in $(grep -oE -- '--[a-z][-a-z]*' "$T/help" | sort -u); do
	grep -qF -- "$o" "$T/man8" || missing="$missing $o"
done
is "$missing" "" "every long option of fsindexd --help is in fsindexd(8)"
is "$("$FSINDEXD" --version)" "fsindexd 0.1.0" "fsindexd --version"
"$FSINDEXD" --frob 2>/dev/null
is "$?" 2 "an unknown option: exit 2"

# ---- a bad configuration at start ---------------------------------------------

printf '[index]\nroots = %s\nfrobnicate = yes\n' "$R1" >"$T/bad.conf"
timeout 10 "$FSINDEXD" --user --config "$T/bad.conf" 2>"$T/bad.err"
is "$?" 2 "a bad configuration at start: exit 2"
like "$(cat "$T/bad.err")" "^<3>.*$T/bad.conf:3: " "...naming file and line, with an error priority prefix"
timeout 10 "$FSINDEXD" --user --config "$T/none.conf" 2>"$T/none.err"
is "$?" 2 "a --config file that does not exist: exit 2"
like "$(cat "$T/none.err")" "none.conf" "...naming it"
ok "no control socket was left by the failed starts" test ! -e "$SOCK"

# ---- start, READY, STATUS, WATCHDOG, the start-up reconcile --------------------

export WATCHDOG_USEC=200000
start_daemon d1 --config "$CONF"
unset WATCHDOG_USEC
ok "READY=1 is sent" wait_for "$T/d1.notify" '(^|\|)READY=1(\||$)'
ok "STATUS= says it scans a root" wait_for "$T/d1.notify" "STATUS=scanning $R1"
ok "STATUS= says it watches 2 roots once the reconcile is done" \
	wait_for "$T/d1.notify" 'STATUS=watching 2 roots'
sleep 0.5
ok "WATCHDOG=1 is sent more than once with WATCHDOG_USEC set ($(count "$T/d1.notify" WATCHDOG=1))" \
	test "$(count "$T/d1.notify" '^WATCHDOG=1$')" -ge 3
like "$(head -n 1 "$T/d1.err")" '^<6>' "log lines carry <N> priority prefixes"
ok "the control socket exists" test -S "$SOCK"

find "$R1" "$R2" | sort >"$T/oracle"
FSI find 2>/dev/null | grep -E "^($R1|$R2)(/|$)" | sort >"$T/indexed"
ok "the start-up reconcile indexed both roots as find(1) lists them" cmp -s "$T/oracle" "$T/indexed"
cmp -s "$T/oracle" "$T/indexed" || diag_file "$T/indexed"

# A second daemon on the same index is refused, and leaves the first's socket alone.
timeout 10 "$FSINDEXD" --user --config "$CONF" 2>"$T/second.err"
is "$?" 2 "a second daemon on the same index exits 2"
ok "...and the first still answers on its socket" "$FSINDEX" status --user

# ---- fsindex status ---------------------------------------------------------------

"$FSINDEX" status --user >"$T/status" 2>"$T/status.err"
is "$?" 0 "fsindex status exits 0"
like "$(cat "$T/status")" "fsindexd 0.1.0, pid $dpid" "status: version and pid"
like "$(cat "$T/status")" "root $R1: (fanotify|inotify|partial|periodic), last reconcile [0-9T:-]+Z, [0-9.]+ s, ok" \
	"status: a root's mode, last reconcile and its duration"
like "$(cat "$T/status")" 'index: .*, [1-9][0-9]* entries' "status: the index size"
"$FSINDEX" status --user --json >"$T/status.json"
is "$?" 0 "fsindex status --json exits 0"
like "$(cat "$T/status.json")" '^\{"version":"0.1.0","pid":[0-9]+,"uptime_s":[0-9]+,' "status --json: one object"
is "$(grep -oE '"mode":"(fanotify|inotify|partial|periodic)"' "$T/status.json" | wc -l)" 2 "status --json: both roots"
setpriv --reuid=65534 --regid=65534 --clear-groups "$FSINDEX" status --user >/dev/null 2>&1
is "$?" 0 "anyone may ask for the status"

# ---- reload: SIGHUP, fsindex reload, a bad file -------------------------------------

kill -HUP "$dpid"
ok "SIGHUP: RELOADING=1" wait_for "$T/d1.notify" '^RELOADING=1'
ok "...then READY=1 again" wait_ready_after_reload
n=$(count "$T/d1.notify" '^RELOADING=1')
"$FSINDEX" reload --user 2>"$T/reload.err"
is "$?" 0 "fsindex reload exits 0"
is "$(count "$T/d1.notify" '^RELOADING=1')" "$((n + 1))" "...once RELOADING=1 was sent (synchronous)"
ok "...and READY=1 after it" ready_after_reload

cp "$CONF" "$T/good.conf"
printf 'workers = lots\n' >>"$CONF"
"$FSINDEX" reload --user 2>"$T/reload.err"
is "$?" 2 "a bad configuration on reload: fsindex reload exits 2"
like "$(cat "$T/reload.err")" "$CONF:4: " "...saying which file and line"
like "$(cat "$T/d1.err")" "reload failed, keeping the running configuration: $CONF:4" "...the daemon logs it"
ok "...and keeps running" kill -0 "$dpid"
"$FSINDEX" status --user >"$T/status2"
like "$(cat "$T/status2")" "root $R2:" "...with the old configuration (both roots)"
cp "$T/good.conf" "$CONF"

# ---- rescan over the control socket -------------------------------------------------

echo new >"$R1/a/new-file"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" "$SOCK" "rescan $R1/a")
like "$out" '^ERR permission denied' "rescan refused for an unprivileged caller"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" "$SOCK" "reload")
like "$out" '^ERR permission denied' "reload refused for an unprivileged caller"
is "$("$CTL" "$SOCK" "rescan $R1/a")" OK "rescan allowed for root"
n=100
until index_has "$R1/a/new-file" || [ $n -eq 0 ]; do sleep 0.05; n=$((n - 1)); done
ok "...and the new file is in the index" index_has "$R1/a/new-file"
like "$("$CTL" "$SOCK" "rescan relative")" '^ERR ' "rescan of a relative path: an error"
like "$("$CTL" "$SOCK" "frob")" '^ERR unknown request' "an unknown request: an error"

kill -TERM "$dpid"
wait_timeout "$dpid" 10
is "$rc" 0 "SIGTERM when idle: exit 0"
ok "STOPPING=1 is sent" wait_for "$T/d1.notify" '^STOPPING=1'
ok "the control socket is removed" test ! -e "$SOCK"

# ---- SIGTERM mid-scan ---------------------------------------------------------------

BIG=$T/big
mkdir -p "$BIG"
for i in $(seq 1 400); do : >"$BIG/f$i"; done
printf '[index]\nroots = %s\n' "$BIG" >"$T/big.conf"
DB=$T/db2
export FSINDEXD_TEST_FILE_DELAY_MS=20
start_daemon d2 --config "$T/big.conf" --db "$DB"
unset FSINDEXD_TEST_FILE_DELAY_MS
ok "READY=1 before the first scan ends" wait_for "$T/d2.notify" '(^|\|)READY=1'
ok "STATUS= says it scans" wait_for "$T/d2.notify" "STATUS=scanning $BIG"
sleep 0.3
FSI find >/dev/null 2>"$T/find.err"
ok "queries work while the start-up scan runs (find exits 0 or 1: $?)" test $? -le 1
t0=$(date +%s%N)
kill -TERM "$dpid"
wait_timeout "$dpid" 10
t1=$(date +%s%N)
is "$rc" 0 "SIGTERM mid-scan: exit 0"
ok "...within 3 seconds ($(((t1 - t0) / 1000000)) ms)" test $(((t1 - t0) / 1000000)) -lt 3000
ok "...after STOPPING=1" wait_for "$T/d2.notify" '^STOPPING=1'
ok "...while the scan was still running (it would take 4 s)" \
	test "$(grep -c "scanned '$BIG'" "$T/d2.err")" -eq 0
FSI find >/dev/null 2>&1
ok "the index opens after the stop (find exits 0 or 1)" test $? -le 1

# ---- periodic reconciles -------------------------------------------------------------

P=$T/periodic
mkdir -p "$P"
echo 1 >"$P/first"
printf '[index]\nroots = %s\nreconcile = 1s\n' "$P" >"$T/periodic.conf"
DB=$T/db4
# Without live events, so only a reconcile can take the new file in.
FSINDEXD_WATCH=none start_daemon d4 --config "$T/periodic.conf" --db "$DB"
ok "periodic: the start-up reconcile" wait_for "$T/d4.err" "scanned '$P'"
echo 2 >"$P/second"
ok "periodic: another reconcile a second after the first" \
	sh -c "n=100; while [ \$(grep -c \"scanned '$P'\" '$T/d4.err') -lt 3 ] && [ \$n -gt 0 ]; do sleep 0.05; n=\$((n - 1)); done; [ \$n -gt 0 ]"
ok "...which took in a file made after the start" index_has "$P/second"
kill -TERM "$dpid"
wait_timeout "$dpid" 10
is "$rc" 0 "...and the daemon stops with exit 0"

# ---- live updates --------------------------------------------------------------------

# same_as_find ROOT: the index's paths under ROOT are find's.
same_as_find() {
	cmp -s <(find -P "$1" -print0 | sort -z) <(FSI find -0 "$1" | sort -z)
}
for mode in inotify auto; do
	L=$T/live-$mode
	mkdir -p "$L/old/deep"
	for i in 1 2 3; do echo "$i" >"$L/old/deep/f$i"; done
	printf '[index]
roots = %s
' "$L" >"$T/live.conf"
	DB=$T/db-live-$mode
	FSINDEXD_DEBUG=1 FSINDEXD_WATCH=$mode start_daemon "live-$mode" --config "$T/live.conf" --db "$DB"
	wait_for "$T/live-$mode.err" "scanned '$L'" 20 || diag "no start-up reconcile of $L"
	echo new >"$L/created"
	poll_until "$mode: a file created under the root appears" index_has "$L/created"
	mkdir -p "$L/n1/n2/n3"
	echo x >"$L/n1/n2/n3/leaf"
	poll_until "$mode: a new tree made at once is taken in whole" index_has "$L/n1/n2/n3/leaf"
	mv "$L/old" "$L/renamed"
	poll_until "$mode: a renamed directory's files are found at the new path" \
		index_has "$L/renamed/deep/f2"
	poll_until "$mode: ... and not at the old one" index_lacks "$L/old/deep/f2"
	mkdir -p "$L/p1/mv/s" "$L/p2"
	echo m >"$L/p1/mv/s/f"
	poll_until "$mode: a directory to move is indexed" index_has "$L/p1/mv/s/f"
	mv "$L/p1/mv" "$L/p2/mv"
	poll_until "$mode: a directory moved to another parent is found there" \
		index_has "$L/p2/mv/s/f"
	poll_until "$mode: ... and not at the old place" index_lacks "$L/p1/mv/s/f"
	ok "$mode: ... both parents rescanned in one job, which kept its identity (a move)" \
		grep -qE "rescanned '.*' \([2-9][0-9]* directories\): .*, [1-9][0-9]* moved" "$T/live-$mode.err"
	rm "$L/created"
	poll_until "$mode: a deleted file disappears" index_lacks "$L/created"
	poll_until "$mode: the index equals find over the root" same_as_find "$L"
	kill -TERM "$dpid"
	wait_timeout "$dpid" 10
	is "$rc" 0 "$mode: the daemon stops with exit 0"
done

# ---- socket activation --------------------------------------------------------------

if command -v systemd-socket-activate >/dev/null 2>&1; then
	rm -rf "$T/run/fsindex"
	mkdir -p "$T/run/fsindex"
	systemd-socket-activate -l "$SOCK" "$FSINDEXD" --user --config "$T/big.conf" --db "$T/db3" \
		2>"$T/sa.err" &
	sapid=$!
	track_pid $sapid
	wait_for_sock "$SOCK"
	"$FSINDEX" status --user >"$T/sa.status" 2>&1
	is "$?" 0 "socket activation: the first connection starts the daemon, which answers it"
	like "$(cat "$T/sa.err")" 'control socket from systemd' "...on the socket systemd passed"
	like "$(cat "$T/sa.status")" "root $BIG:" "...with its status"
	like "$(cat "$T/sa.status")" "pid $sapid," "...in the process systemd-socket-activate became"
	kill -TERM "$sapid"
	wait_timeout "$sapid" 10
	is "$rc" 0 "...and stops with exit 0"
else
	skip "systemd-socket-activate not installed"
fi

# ---- the units ----------------------------------------------------------------------

if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T/units"
	# verify wants the binaries the units name: point them at the built ones.
	for u in systemd/fsindexd.service.in systemd/fsindexd.socket systemd/user/fsindexd.service.in; do
		b=$(basename "$u" .in)
		case $u in systemd/user/*) b=user-$b ;; esac
		sed -e "s|@sbindir@|$top_builddir|g" -e "s|@bindir@|$top_builddir|g" \
			"$top_srcdir/$u" >"$T/units/$b"
	done
	out=$(cd "$T/units" && systemd-analyze verify --man=no ./fsindexd.service ./fsindexd.socket \
		./user-fsindexd.service 2>&1)
	is "$out" "" "systemd-analyze verify accepts the units"
else
	skip "systemd-analyze not installed"
fi

done_testing
