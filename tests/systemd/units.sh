#!/bin/bash
# SPDX-License-Identifier: MIT
#
# units.sh - the units `make install` puts in place, under a real systemd
# 252 (Debian 12) booted with systemd-nspawn (nspawn.sh): sysusers.d and
# tmpfiles.d applied at boot, fsindexd.service (Type=notify, hardened)
# starts, indexes a root on a dedicated ext4 and follows it with fanotify,
# reloads (and refuses a broken file), lets group fsindex rescan and
# strangers not, is killed and restarted by the watchdog when it stalls,
# stops with exit 0; fsindexd.socket starts it on the first request; and
# systemd-analyze verify accepts the units.
#
# Run as root from a built tree:  bash tests/systemd/units.sh
# TAP on stdout, then "N passed, N failed, N skipped"; exit status 1 when
# something failed.  README.md beside it says how the harness works.

. "$(dirname "$0")/../integ/lib.sh" || exit 99
. "$(dirname "$0")/nspawn.sh" || exit 99

t_start=$(now_ms)
finish() {
	echo "1..$_tap_n"
	diag "timings (ms): cached root ${NSP_CACHE_MS:-0} (0 = was cached), boot ${NSP_BOOT_MS:-?}," \
		"poweroff ${NSP_POWEROFF_MS:-?}, total $(($(now_ms) - t_start))"
	echo "$((_tap_n - _tap_failed)) passed, $_tap_failed failed, 0 skipped"
	[ "$_tap_failed" -eq 0 ]
	exit
}

nsp_require
nsp_cache_root || bail "cannot build the cached Debian root under $NSP_CACHE"
nsp_setup || bail "cannot set up the container root"
ok "make install DESTDIR=\$root" nsp_install_build || bail "make install failed"
cc -std=gnu17 -O2 -Wall -Wextra -o "$NSP_ROOT/usr/local/bin/ctl-send" \
	"$top_srcdir/tests/helpers/ctl-send.c" >"$T/cc.log" 2>&1 ||
	{ diag_file "$T/cc.log"; bail "cannot build ctl-send"; }

# Where the units went (pkg-config's systemdsystemunitdir, or the prefix's).
unitdir=$(cd "$NSP_ROOT" && find usr/local/lib usr/lib lib -name fsindexd.service \
	-path '*/systemd/system/*' 2>/dev/null | head -n 1)
unitdir=/${unitdir%/fsindexd.service}
ok "fsindexd.service and fsindexd.socket are installed ($unitdir)" \
	test -f "$NSP_ROOT$unitdir/fsindexd.service" -a -f "$NSP_ROOT$unitdir/fsindexd.socket"
tmpfiles=$(find "$NSP_ROOT"/usr/local/lib/tmpfiles.d "$NSP_ROOT"/usr/lib/tmpfiles.d \
	-name fsindex.conf 2>/dev/null | head -n 1)
ok "the tmpfiles.d snippet is installed" test -f "$tmpfiles"

nsp_mkfs ext4 && nsp_mkfs tmpfs || bail "cannot make the test filesystems"
R=$NSP_FS_IN/ext4/tree          # the root, as the container sees it
R2=$NSP_FS_IN/tmpfs/tree2       # added by a reload
mkdir -p "$NSP_FS/ext4/tree/a/b" "$NSP_FS/ext4/tree/c" "$NSP_FS/tmpfs/tree2"
echo x >"$NSP_FS/ext4/tree/a/f"
echo y >"$NSP_FS/ext4/tree/a/b/g"
ln -s f "$NSP_FS/ext4/tree/a/l"
echo z >"$NSP_FS/tmpfs/tree2/in-tree2"

conf() { # conf ROOTS [EXTRA-LINE]: /etc/fsindex.conf in the container
	printf '[index]\nroots = %s\ndb = /var/lib/fsindex\n%s' "$1" "${2:+$2
}" >"$NSP_ROOT/etc/fsindex.conf"
}
conf "$R"

nsp_boot || bail "the container did not boot"
pass "systemd reached '$NSP_STATE' in $NSP_BOOT_MS ms"

# index_has PATH: the system index lists PATH exactly.
index_has() {
	nsp_run fsindex find --db /var/lib/fsindex "$1" 2>/dev/null | grep -qxF -- "$1"
}
index_lacks() {
	nsp_run fsindex find --db /var/lib/fsindex "$1" >"$T/find.out" 2>&1
	[ $? -eq 1 ] && ! grep -qxF -- "$1" "$T/find.out"
}
# mode_of ROOT: the watch mode fsindex status --json gives ROOT.
mode_of() {
	nsp_run fsindex status --json | grep -oE "\"path\":\"$1\",\"mode\":\"[a-z]+\"" |
		sed 's/.*"mode":"//; s/"$//'
}
journal_has() { # journal_has UNIT ERE
	nsp_run journalctl -b -q --no-pager -u "$1" | grep -qE -- "$2"
}

# ---- 9. the units as systemd-analyze sees them ---------------------------------

# --man=no: minbase has no man(1) to look the Documentation= pages up with.
nsp_run systemd-analyze verify --man=no "$unitdir/fsindexd.service" "$unitdir/fsindexd.socket" \
	>"$T/verify.out" 2>&1
is "$?" 0 "systemd-analyze verify accepts fsindexd.service and fsindexd.socket"
is "$(cat "$T/verify.out")" "" "...without a warning"
[ -s "$T/verify.out" ] && diag_file "$T/verify.out"

# ---- 1. sysusers.d, tmpfiles.d -------------------------------------------------

like "$(nsp_run getent group fsindex)" '^fsindex:x:[0-9]+:' "sysusers.d applied at boot: group fsindex"
want=$(awk '$1 == "d" && $2 == "/var/lib/fsindex" { sub(/^0/, "", $3); print $4, $5, $3 }' "$tmpfiles")
is "$want" "root fsindex 2750" "the tmpfiles.d snippet says /var/lib/fsindex is root:fsindex 2750"
is "$(nsp_run stat -c '%U %G %a' /var/lib/fsindex)" "$want" "tmpfiles.d applied at boot: /var/lib/fsindex"
mode=$(nsp_run stat -c '%a' /var/lib/fsindex)
is "$((8#$mode & 7))" 0 "...not world-readable"
is "$(nsp_run stat -c '%A %U %G' /usr/local/bin/fsindex)" "-rwxr-sr-x root fsindex" \
	"...and the installed fsindex is setgid fsindex (its \"z\" line)"

# ---- 2. start (Type=notify) ----------------------------------------------------

ok "systemctl start fsindexd returns" nsp_run systemctl start fsindexd.service ||
	nsp_journal -u fsindexd.service
is "$(nsp_run systemctl is-active fsindexd.service)" active "fsindexd.service is active (READY=1 reached)"
like "$(nsp_run systemctl show -P StatusText fsindexd.service)" '.' "StatusText is set"
nsp_retry 30 nsp_run sh -c '[ "$(systemctl show -P StatusText fsindexd.service)" = "watching 1 roots" ]'
is "$(nsp_run systemctl show -P StatusText fsindexd.service)" "watching 1 roots" \
	"STATUS= says it watches the root once the start-up reconcile is done"
is "$(nsp_run fsindex find --db /var/lib/fsindex "$R" | sort)" "$(nsp_run find "$R" | sort)" \
	"the start-up reconcile indexed the root as find(1) lists it"

# ---- 3. live updates, fanotify under the hardened unit ---------------------------

is "$(mode_of "$R")" fanotify "fsindex status --json: fanotify for the ext4 root"
like "$(nsp_run fsindex status)" "root $R: fanotify" "fsindex status says so too"
nsp_run sh -c "echo new >$R/c/new-file && mkdir $R/c/newdir && echo n >$R/c/newdir/n"
nsp_retry 30 index_has "$R/c/newdir/n"
ok "a file created under the root appears in fsindex find" index_has "$R/c/new-file"
ok "...and one in a new directory" index_has "$R/c/newdir/n"
nsp_run rm "$R/a/b/g"
nsp_retry 30 index_lacks "$R/a/b/g"
ok "a deleted file disappears" index_lacks "$R/a/b/g"
# find --sync under the hardened unit: the roots are read-only to the daemon
# (ProtectSystem=strict), so no cookie; every file made just before is seen.
miss=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	nsp_run sh -c "echo $i >$R/c/sync$i && fsindex find --sync --db /var/lib/fsindex $R/c/sync$i" \
		2>>"$T/sync.err" | grep -qxF "$R/c/sync$i" || miss=$((miss + 1))
done
is "$miss" 0 "find --sync sees each of 10 files made just before it, with no polling"
unlike "$(cat "$T/sync.err")" "warning" "...the client warns of nothing"
nok "...nor does the daemon (no cookie tried)" journal_has fsindexd.service "sync: cannot create"
is "$(nsp_run journalctl -b -q --no-pager -u fsindexd.service | grep -c "scanned '$R'")" 1 \
	"...and no reconcile per sync (the start-up one only)"
is "$(nsp_run systemctl show -P NRestarts fsindexd.service)" 0 "no restart so far"

# ---- 4. reload -----------------------------------------------------------------

pid=$(nsp_run systemctl show -P MainPID fsindexd.service)
conf "$R $R2"
ok "systemctl reload fsindexd returns 0 (a second root)" nsp_run systemctl reload fsindexd.service
is "$(nsp_prop fsindexd.service ActiveState MainPID)" "active $pid" "...the same process stays active"
nsp_retry 30 index_has "$R2/in-tree2"
ok "...and the new root is indexed" index_has "$R2/in-tree2"
like "$(mode_of "$R2")" '^(fanotify|inotify)$' "...and watched"

conf "$R $R2" "workers = lots"
nsp_run systemctl reload fsindexd.service >"$T/reload.out" 2>&1
rc=$?
ok "systemctl reload with a broken /etc/fsindex.conf fails (exit $rc)" test "$rc" -ne 0
is "$(nsp_prop fsindexd.service ActiveState MainPID)" "active $pid" "...and the unit stays active"
ok "...the journal names the file, line and reason" journal_has fsindexd.service \
	'reload failed, keeping the running configuration: /etc/fsindex.conf:4: .*workers'
like "$(mode_of "$R2")" '^(fanotify|inotify)$' "...and the old configuration is kept (both roots)"
conf "$R $R2"

# ---- 7. who may rescan ---------------------------------------------------------

nsp_useradd alice fsindex && nsp_useradd bob || bail "useradd failed"
is "$(nsp_run_as alice ctl-send /run/fsindex/control "rescan $R/a")" OK \
	"a member of group fsindex may rescan (control socket)"
ok "...and fsindex reload" nsp_run_as alice fsindex reload
out=$(nsp_run_as bob ctl-send /run/fsindex/control "rescan $R/a")
is "$out" "ERR permission denied (needs root or group fsindex)" \
	"another user may not rescan, and is told why"
out=$(nsp_run_as bob fsindex reload 2>&1)
is "$?" 2 "...nor reload (exit 2)"
like "$out" 'permission denied \(needs root or group fsindex\)' "...with a clear message"
ok "anyone may ask for the status" nsp_run_as bob fsindex status

# ---- 7b. what each user sees of the system index -------------------------------

is "$(nsp_run stat -c '%a %G' /var/lib/fsindex/data.mdb /var/lib/fsindex/lock.mdb | tr '\n' ' ')" \
	"640 fsindex 660 fsindex " "the daemon's index: data readable, lock file writable by group fsindex"
nsp_run sh -c "mkdir -m 700 $R/c/alice-private && echo s >$R/c/alice-private/alice-secret &&
	chown -R alice: $R/c/alice-private"
nsp_retry 30 index_has "$R/c/alice-private/alice-secret"
ok "(a file in alice's 0700 directory is indexed)" index_has "$R/c/alice-private/alice-secret"
nsp_run_as bob fsindex find --db /var/lib/fsindex >"$T/bob.out" 2>"$T/bob.err"
is "$?" 0 "another user reads the system index through the setgid fsindex"
like "$(cat "$T/bob.out")" "^$R/c/alice-private\$" "...sees alice's directory itself"
unlike "$(cat "$T/bob.out" "$T/bob.err")" "alice-secret" "...but not the name of the file in it"
is "$(nsp_run_as bob fsindex find --db /var/lib/fsindex --count alice-secret)" 0 \
	"...not even counted"
is "$(nsp_run_as alice fsindex find alice-secret)" "$R/c/alice-private/alice-secret" \
	"alice finds her own file (no --db: the system index, she has none of her own)"
unlike "$(nsp_run_as bob fsindex status; nsp_run_as bob fsindex status --json)" "alice-private" \
	"bob's fsindex status names nothing below a root"
is "$(nsp_run_as bob sh -c 'exec fsindex find --db /var/lib/fsindex --count' 2>&1)" \
	"$(nsp_run_as bob sh -c "find $R $R2 -print 2>/dev/null" | wc -l)" \
	"bob's count is what find(1) run by bob lists"
is "$(nsp_run systemctl is-active fsindexd.service)" active "the daemon is still active"

# ---- 8. the watchdog -----------------------------------------------------------

# A drop-in with a short WatchdogSec=, then SIGSTOP: the main loop stops
# pinging, systemd must kill it and Restart=on-failure start a new one.
nsp_run sh -c 'mkdir -p /run/systemd/system/fsindexd.service.d &&
	printf "[Service]\nWatchdogSec=2\n" >/run/systemd/system/fsindexd.service.d/wd.conf &&
	systemctl daemon-reload && systemctl restart fsindexd.service'
pid=$(nsp_run systemctl show -P MainPID fsindexd.service)
is "$(nsp_prop fsindexd.service ActiveState WatchdogUSec)" "active 2s" "restarted with WatchdogSec=2"
sleep 3
is "$(nsp_prop fsindexd.service ActiveState MainPID)" "active $pid" "it pings: still the same process after 3 s"
nsp_run kill -STOP "$pid"
nsp_retry 40 journal_has fsindexd.service 'Watchdog timeout'
ok "stopped with SIGSTOP: the journal says 'Watchdog timeout'" journal_has fsindexd.service 'Watchdog timeout'
nsp_retry 40 nsp_run sh -c "[ \"\$(systemctl show -P NRestarts fsindexd.service)\" -ge 1 ] &&
	[ \"\$(systemctl is-active fsindexd.service)\" = active ]"
is "$(nsp_run systemctl show -P NRestarts fsindexd.service)" 1 "Restart=on-failure started it again"
new=$(nsp_run systemctl show -P MainPID fsindexd.service)
ok "...as a new process ($pid -> $new), active" test "$new" != "$pid" -a "$new" != 0
ok "...killed with the watchdog signal" journal_has fsindexd.service \
	"Main process exited, code=(dumped|killed), status=6/ABRT"
nsp_run sh -c 'rm /run/systemd/system/fsindexd.service.d/wd.conf && systemctl daemon-reload'

# ---- 5. stop -------------------------------------------------------------------

ok "systemctl stop fsindexd" nsp_run systemctl stop fsindexd.service
is "$(nsp_prop fsindexd.service ActiveState Result ExecMainStatus)" "inactive success 0" \
	"inactive, Result=success, ExecMainStatus=0 (not killed, no stop timeout)"
ok "...the daemon logged its own orderly stop" journal_has fsindexd.service 'fsindexd\[[0-9]+\]: stopped$' 
ok "the control socket is gone" nsp_run test ! -e /run/fsindex/control

# ---- 6. socket activation ------------------------------------------------------

ok "systemctl start fsindexd.socket" nsp_run systemctl start fsindexd.socket
is "$(nsp_run stat -c '%F %a' /run/fsindex/control)" "socket 666" "/run/fsindex/control is a 0666 socket"
is "$(nsp_run systemctl is-active fsindexd.service)" inactive "the service is not running yet"
nsp_run fsindex status >"$T/status" 2>&1
is "$?" 0 "fsindex status answers through the socket"
pid=$(nsp_run systemctl show -P MainPID fsindexd.service)
like "$(cat "$T/status")" "fsindexd 0.1.0, pid $pid" "...from the daemon it started"
is "$(nsp_run systemctl is-active fsindexd.service)" active "fsindexd.service is active"
ok "it took the socket systemd passed" journal_has fsindexd.service 'control socket from systemd'
ok "systemctl stop fsindexd (the socket stays)" nsp_run systemctl stop fsindexd.service
is "$(nsp_prop fsindexd.service ActiveState ExecMainStatus)" "inactive 0" "...stopped with status 0"
is "$(nsp_run systemctl is-active fsindexd.socket)" active "fsindexd.socket is still active"
ok "...its socket file is still there" nsp_run test -S /run/fsindex/control
nsp_run fsindex status >"$T/status" 2>&1
is "$?" 0 "the next fsindex status starts the daemon again"
like "$(cat "$T/status")" "root $R: " "...with the configuration's roots"
ok "stop both" nsp_run systemctl stop fsindexd.socket fsindexd.service
failed=$(nsp_run systemctl list-units --failed --plain --no-legend | awk '{ print $1 }')
is "$failed" "" "no unit failed"

[ "$_tap_failed" -ne 0 ] && { diag "the container's journal:"; nsp_journal; }
nsp_poweroff
is "$?" 0 "the container powers off cleanly"
nsp_cleanup
is "$(grep -cF " $NSP_DIR" /proc/self/mounts)" 0 "nothing stays mounted"

finish
