#!/bin/bash
# SPDX-License-Identifier: MIT
#
# boot.sh - proves the systemd container harness (nspawn.sh) on what exists
# today: a real systemd 252 boots a throwaway Debian 12 under
# systemd-nspawn, and inside it a Type=notify service starts, reloads and
# stops, a .socket starts its service on the first connection and keeps
# strangers out by group, WatchdogSec= kills a service that stops pinging,
# sysusers.d and tmpfiles.d snippets are applied, the installed fsindex
# scans and finds, and fanotify (FAN_REPORT_DFID_NAME, FAN_MARK_FILESYSTEM,
# open_by_handle_at) works on dedicated loop-mounted filesystems from a
# service, also under SystemCallFilter=@system-service plus the fanotify
# calls, while @system-service alone kills it with SIGSYS.
#
# Run as root from a built tree:  bash tests/systemd/boot.sh
# TAP on stdout, then "N passed, N failed, N skipped"; exit status 1 when
# something failed.  Not part of `make check` (it needs root, a Debian
# mirror the first time, and boots a container).  README.md beside it says
# how the harness works.

. "$(dirname "$0")/../integ/lib.sh" || exit 99
. "$(dirname "$0")/nspawn.sh" || exit 99

t_start=$(now_ms)
_skipped=0
skip() {
	_tap_n=$((_tap_n + 1))
	_skipped=$((_skipped + 1))
	echo "ok $_tap_n - $1 # SKIP ${2:-}"
}

finish() {
	echo "1..$_tap_n"
	diag "timings (ms): cached root ${NSP_CACHE_MS:-0} (0 = was cached), setup ${NSP_SETUP_MS:-?}," \
		"boot to ${NSP_STATE:-?} ${NSP_BOOT_MS:-?}, poweroff ${NSP_POWEROFF_MS:-?}," \
		"total $(($(now_ms) - t_start))"
	echo "$((_tap_n - _tap_failed - _skipped)) passed, $_tap_failed failed, $_skipped skipped"
	[ "$_tap_failed" -eq 0 ]
	exit
}

nsp_require

# ---- the root, the build, the filesystems ------------------------------------

nsp_cache_root || bail "cannot build the cached Debian root under $NSP_CACHE"
pass "cached $NSP_SUITE root at $NSP_CACHED"
nsp_setup || bail "cannot set up the container root"
pass "throwaway $NSP_CLONE of it at $NSP_ROOT (${NSP_SETUP_MS} ms)"

ok "make install DESTDIR=\$root" nsp_install_build
ok "fsindex is installed in the root" test -x "$NSP_ROOT/usr/local/bin/fsindex"

cc -std=gnu17 -O2 -Wall -Wextra -o "$NSP_ROOT/usr/local/bin/nsp-probe" \
	"$top_srcdir/tests/systemd/nsp-probe.c" -lsystemd >"$T/cc.log" 2>&1 ||
	{ diag_file "$T/cc.log"; bail "cannot build nsp-probe (needs libsystemd-dev)"; }

fstypes=(ext4 xfs btrfs overlay tmpfs)
for fs in "${fstypes[@]}"; do
	nsp_mkfs "$fs" || bail "cannot make the $fs test filesystem"
done
pass "loop-mounted ${fstypes[*]} at $NSP_FS"

# Installed before the boot, as a package would: applied by
# systemd-sysusers.service and systemd-tmpfiles-setup.service at boot.
mkdir -p "$NSP_ROOT/usr/lib/sysusers.d" "$NSP_ROOT/usr/lib/tmpfiles.d"
cat >"$NSP_ROOT/usr/lib/sysusers.d/nsptest.conf" <<'EOF'
g nspgrp -
u nsptest - "fsindex nspawn test" /var/lib/nsptest
EOF
cat >"$NSP_ROOT/usr/lib/tmpfiles.d/nsptest.conf" <<'EOF'
d /var/lib/nsptest 0750 nsptest nspgrp -
d /run/nsptest 0755 nsptest nsptest -
EOF

# Type=notify from a shell script: systemd-notify is a child, not the main
# process, so it needs NotifyAccess=all.
nsp_unit notify-sh.service <<'EOF'
[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'systemd-notify --ready --status="sh is ready"; exec sleep infinity'
TimeoutStartSec=10
EOF

# Type=notify from C (sd_notify, as the daemon will), socket-activated, with
# a reload that goes RELOADING=1 -> READY=1.
nsp_unit probe.socket <<'EOF'
[Socket]
ListenStream=/run/nsp-probe.sock
SocketGroup=nspgrp
SocketMode=0660
EOF
nsp_unit probe.service <<'EOF'
[Service]
Type=notify
ExecStart=/usr/local/bin/nsp-probe daemon
ExecReload=/bin/kill -HUP $MAINPID
TimeoutStartSec=10
EOF

# The watchdog: the test hook stops pinging after three pings.
nsp_unit probe-wd.service <<'EOF'
[Service]
Type=notify
ExecStart=/usr/local/bin/nsp-probe daemon --stop-pinging-after 3
WatchdogSec=1
TimeoutStartSec=10
EOF

# fanotify from services: @system-service lacks the fanotify calls; adding
# them back (a second SystemCallFilter= line adds to the allow list) works,
# under the hardening the daemon's unit is meant to have.
nsp_unit fan-strict.service <<'EOF'
[Service]
Type=oneshot
ExecStart=/usr/local/bin/nsp-probe fanotify /srv/fsi/ext4
SystemCallFilter=@system-service
EOF
nsp_unit fan-hardened.service <<'EOF'
[Service]
Type=oneshot
ExecStart=/usr/local/bin/nsp-probe fanotify /srv/fsi/ext4
SystemCallFilter=@system-service
SystemCallFilter=fanotify_init fanotify_mark open_by_handle_at
SystemCallArchitectures=native
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_READ_SEARCH
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/srv/fsi/ext4
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateNetwork=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
EOF

# ---- boot ----------------------------------------------------------------------

nsp_boot || bail "the container did not boot"
pass "systemd reached '$NSP_STATE' in $NSP_BOOT_MS ms"
failed=$(nsp_run systemctl list-units --failed --plain --no-legend | awk '{ print $1 }')
is "$failed" "" "no unit failed during the boot"
like "$(nsp_run systemctl --version | head -n 1)" '^systemd [0-9]+' "systemctl answers from inside"
diag "inside: $(nsp_run systemctl --version | head -n 1 | cut -c1-20)," \
	"cgroup fs $(nsp_run stat -fc %T /sys/fs/cgroup), virt $(nsp_run systemd-detect-virt)"
is "$(nsp_run cat /proc/1/comm)" systemd "nsenter runs in the container's pid namespace"

# ---- sysusers, tmpfiles ----------------------------------------------------------

like "$(nsp_run getent passwd nsptest)" '^nsptest:x:[0-9]+:[0-9]+:fsindex nspawn test:/var/lib/nsptest:' \
	"sysusers.d applied at boot: system user"
like "$(nsp_run getent group nspgrp)" '^nspgrp:x:[0-9]+:' "sysusers.d applied at boot: group"
is "$(nsp_run stat -c '%U %G %a' /var/lib/nsptest /run/nsptest | tr '\n' ' ')" \
	"nsptest nspgrp 750 nsptest nsptest 755 " "tmpfiles.d applied at boot: owners and modes"

# ...and by hand, as a postinst or a test that drops a snippet in later does.
nsp_run sh -c 'mkdir -p /etc/sysusers.d /etc/tmpfiles.d &&
	echo "u nsplate - \"late user\"" >/etc/sysusers.d/late.conf &&
	echo "d /run/nsplate 0700 nsplate - -" >/etc/tmpfiles.d/late.conf'
ok "systemd-sysusers applies a snippet dropped in after the boot" nsp_run systemd-sysusers
ok "systemd-tmpfiles --create applies one" nsp_run systemd-tmpfiles --create /etc/tmpfiles.d/late.conf
is "$(nsp_run stat -c '%U %a' /run/nsplate)" "nsplate 700" "the late user owns the late directory"

# ---- Type=notify, reload, stop, socket activation ---------------------------------

ok "Type=notify shell script (systemd-notify --ready) starts" nsp_run systemctl start notify-sh.service ||
	nsp_journal -u notify-sh.service
is "$(nsp_run systemctl show -P StatusText notify-sh.service)" "sh is ready" "its STATUS= arrived"

is "$(nsp_run systemctl is-active probe.service)" inactive "the socket-activated service is not running yet"
ok "probe.socket starts" nsp_run systemctl start probe.socket
reply=$(nsp_run nsp-probe connect /run/nsp-probe.sock)
like "$reply" '^pong [0-9]+ reloads=0$' "the first connection starts it and is answered" ||
	nsp_journal -u probe.service
is "$(nsp_run systemctl is-active probe.service)" active "the Type=notify service is active"
pid=$(nsp_run systemctl show -P MainPID probe.service)
is "${reply#pong }" "$pid reloads=0" "the main pid answered"
like "$(nsp_run systemctl show -P StatusText probe.service)" '^serving 1 socket' "it got the listening socket"

ok "systemctl reload" nsp_run systemctl reload probe.service
# ExecReload=kill -HUP returns before the daemon has handled the signal (in
# 252 a reload is synchronous only if ExecReload= waits for the daemon).
nsp_retry 5 nsp_run sh -c '[ "$(nsp-probe connect /run/nsp-probe.sock)" = "pong $1 reloads=1" ]' \
	sh "$pid"
is "$(nsp_run nsp-probe connect /run/nsp-probe.sock)" "pong $pid reloads=1" \
	"the reload reached the same process"
is "$(nsp_run systemctl is-active probe.service)" active "active again after RELOADING=1, READY=1"

ok "systemctl stop" nsp_run systemctl stop probe.service
is "$(nsp_prop probe.service ActiveState Result)" "inactive success" \
	"stopped cleanly (SIGTERM -> STOPPING=1, exit 0)"
is "$(nsp_run systemctl is-active probe.socket)" active "the socket stays"
reply=$(nsp_run nsp-probe connect /run/nsp-probe.sock)
like "$reply" '^pong [0-9]+ reloads=0$' "the next connection starts it again"
unlike "$reply" "^pong $pid " "...as a new process"

# The socket is 0660 root:nspgrp: a member connects, another user cannot.
nsp_useradd alice nspgrp && nsp_useradd bob || bail "useradd failed"
like "$(nsp_run_as alice nsp-probe connect /run/nsp-probe.sock 2>&1)" '^pong ' \
	"a member of the socket's group connects (setpriv)"
like "$(nsp_run_as bob nsp-probe connect /run/nsp-probe.sock 2>&1)" 'Permission denied' \
	"another user is refused (setpriv)"
like "$(nsp_unit_run -p User=alice -- /usr/local/bin/nsp-probe connect /run/nsp-probe.sock 2>&1)" \
	'^pong ' "a member connects (systemd-run -p User=)"
like "$(nsp_unit_run -p User=bob -- /usr/local/bin/nsp-probe connect /run/nsp-probe.sock 2>&1)" \
	'Permission denied' "another user is refused (systemd-run -p User=)"

# ---- watchdog --------------------------------------------------------------------

ok "a service with WatchdogSec=1 starts" nsp_run systemctl start probe-wd.service
nsp_wait_state probe-wd.service failed 15
is "$nsp_state" failed "it fails once it stops pinging"
is "$(nsp_run systemctl show -P Result probe-wd.service)" watchdog "...for the watchdog"
like "$(nsp_run journalctl -b -q --no-pager -u probe-wd.service)" 'Watchdog timeout' \
	"the journal says why"

# ---- fsindex inside ----------------------------------------------------------------

nsp_run sh -c 'mkdir -p /srv/fsi/ext4/tree/a/b && echo x >/srv/fsi/ext4/tree/a/f &&
	echo y >/srv/fsi/ext4/tree/a/b/g && ln -s f /srv/fsi/ext4/tree/a/l'
ok "fsindex scan in the container" nsp_unit_run -- /usr/local/bin/fsindex scan --db /var/tmp/db \
	/srv/fsi/ext4/tree
is "$(nsp_run fsindex find --db /var/tmp/db | sort)" \
	"$(nsp_run find /srv/fsi/ext4/tree | sort)" "fsindex find lists what find lists"
nsp_run chown -R alice: /srv/fsi/ext4/tree
ok "fsindex scan as a user, default index in \$HOME" nsp_run_as alice fsindex scan /srv/fsi/ext4/tree
is "$(nsp_run_as alice fsindex find --count /srv/fsi/ext4/tree/)" \
	"$(nsp_run find /srv/fsi/ext4/tree -mindepth 1 | wc -l)" "...and finds it all"

# ---- fanotify --------------------------------------------------------------------

# As a service of the container (nspawn's filter and capabilities apply):
# a filesystem mark, and an inode mark on the directory as a fallback.
for fs in ext4 xfs btrfs-top btrfs overlay tmpfs; do
	for how in filesystem inode; do
		out=$(nsp_unit_run -- /usr/local/bin/nsp-probe fanotify "$NSP_FS_IN/$fs" $how 2>&1)
		diag "fanotify, $how mark, on $fs: $out"
		if [ "$fs" = ext4 ]; then
			is "$out" "init=ok mark=ok event=ok handle=ok" \
				"fanotify DFID_NAME|FID, $how mark, open_by_handle_at on ext4"
		else
			like "$out" '^init=ok (mark=E[A-Z]+|mark=ok (event=none|event=ok handle=(ok|E[A-Z]+)))$' \
				"fanotify, $how mark, on $fs gives a definite answer"
		fi
	done
done

nsp_run systemctl start fan-strict.service 2>/dev/null
is "$(nsp_prop fan-strict.service Result ExecMainCode ExecMainStatus)" "signal 2 31" "SystemCallFilter=@system-service kills fanotify_init with SIGSYS"
ok "@system-service plus the fanotify calls, hardened: the probe works" \
	nsp_run systemctl start fan-hardened.service ||
	nsp_journal -u fan-hardened.service

# ---- shutdown, nspawn's own filter, cleanup ------------------------------------------

[ "$_tap_failed" -ne 0 ] && { diag "the container's journal:"; nsp_journal; }
nsp_poweroff
is "$?" 0 "the container powers off cleanly (SIGRTMIN+4), in $NSP_POWEROFF_MS ms"

# The same probe without booting (systemd-nspawn runs one command as pid 1,
# under the same seccomp filter), with and without --system-call-filter.
nsp_oneshot() {
	timeout -k 5 60 systemd-nspawn --register=no --keep-unit --console=pipe -q -D "$NSP_ROOT" \
		"$@" "${NSP_ARGS[@]}" /usr/local/bin/nsp-probe fanotify "$NSP_FS_IN/ext4" </dev/null 2>&1 |
		grep -v '^Attempted to remove disk file system under'
}
is "$(nsp_oneshot)" "init=EPERM" "nspawn's own filter refuses fanotify_init by default"
is "$(nsp_oneshot --system-call-filter="$NSP_SYSCALLS")" "init=ok mark=ok event=ok handle=ok" \
	"--system-call-filter='$NSP_SYSCALLS' lets it through"

nsp_cleanup
is "$(grep -cF " $NSP_DIR" /proc/self/mounts)" 0 "nothing stays mounted"
is "$(pgrep -f -- "[-]-machine=fsindex-test-$$ ")" "" "no container process is left"

finish
