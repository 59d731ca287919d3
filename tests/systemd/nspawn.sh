#!/bin/bash
# SPDX-License-Identifier: MIT
#
# nspawn.sh - boot a throwaway Debian 12 under systemd-nspawn and run things
# in it (sourced, not run; after tests/integ/lib.sh, whose TAP helpers,
# scratch directory $T and at_exit it uses).  tests/systemd/README.md says
# how it works and why; tests/systemd/boot.sh is the example to copy.
#
#   nsp_require                 root and the tools, else skip_all
#   nsp_cache_root              the cached Debian root (debootstrap once)
#   nsp_setup                   a throwaway overlay of it at $NSP_ROOT
#   nsp_install_build           make install DESTDIR=$NSP_ROOT
#   nsp_mkfs TYPE [SIZE]        a loop-mounted TYPE at $NSP_FS/TYPE,
#                               visible in the container at /srv/fsi/TYPE
#   nsp_boot                    boot it, wait until systemd is up
#   nsp_run CMD...              CMD in the container as root (nsenter)
#   nsp_run_as USER CMD...      CMD as USER with its groups (setpriv)
#   nsp_unit_run [-p P=V...] -- CMD...   CMD as a transient unit of the
#                               container's systemd (systemd-run --pipe)
#   nsp_retry SECS CMD...       CMD until it succeeds (asynchronous effects)
#   nsp_wait_state UNIT STATE   until systemctl is-active UNIT says STATE
#   nsp_prop UNIT PROP...       systemctl show -P, in the order asked
#   nsp_journal [ARGS...]       the container's journal, as diagnostics
#   nsp_poweroff                shut down cleanly (or kill after a timeout)
#
# nsp_run runs with the host's capabilities and without nspawn's seccomp
# filter (nsenter joins the namespaces, nothing else): to see what a service
# of the container sees, run it as a unit (nsp_unit_run, systemctl start).
#
# Environment: NSP_CACHE (default /var/cache/fsindex-nspawn), NSP_MIRROR
# (default: the Debian mirror named in /etc/apt/sources.list*), NSP_CLONE
# (overlay, the default, or copy), NSP_TIMEOUT (seconds for one command in
# the container, default 60), NSP_LIFETIME (the container is killed after
# this many seconds whatever happens, default 900), NSP_UNIFIED (1, the
# default: cgroup v2 only inside; 0: the host's layout).

NSP_SUITE=bookworm
# Bump NSP_ROOT_VERSION when nsp_customize changes: the cache key is a hash
# of these, so a new stamp builds a new root next to the old one.
NSP_ROOT_VERSION=1
NSP_INCLUDE=systemd,systemd-sysv,dbus,libsystemd0,liburing2,libxxhash0,liblmdb0,procps
NSP_CACHE=${NSP_CACHE:-/var/cache/fsindex-nspawn}
NSP_CLONE=${NSP_CLONE:-overlay}
NSP_TIMEOUT=${NSP_TIMEOUT:-60}
NSP_LIFETIME=${NSP_LIFETIME:-900}
# 1: the container gets the unified cgroup hierarchy (cgroup v2 only), as a
# Debian 12 host has, even where this host mounts the hybrid layout; 0: the
# host's layout.
NSP_UNIFIED=${NSP_UNIFIED:-1}
# nspawn's own seccomp filter refuses these (EPERM) unless named here.
NSP_SYSCALLS="fanotify_init fanotify_mark open_by_handle_at"
# Where nsp_mkfs's filesystems appear inside the container.
NSP_FS_IN=/srv/fsi
NSP_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

NSP_ARGS=()     # more systemd-nspawn options, before nsp_boot
NSP_DIR=        # per-run tmpfs: upper/, work/, root/, fs/, img/
NSP_ROOT=       # the container's root directory (an overlay by default)
NSP_FS=         # host side of $NSP_FS_IN
NSP_LEADER=     # pid of timeout(1) running systemd-nspawn
NSP_PID1=       # host pid of the container's systemd
_nsp_mounts=()  # host mounts, unmounted in reverse order on exit

# _nsp_ms: wall clock in milliseconds.
_nsp_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# nsp_require: skip the whole script unless root with the tools (installed
# from Debian's packages when missing, as CI runs as root).
nsp_require() {
	local pkgs=() t
	[ "$(id -u)" -eq 0 ] || skip_all "needs root (systemd-nspawn, loop mounts)"
	dpkg -s systemd-container >/dev/null 2>&1 || pkgs+=(systemd-container)
	dpkg -s debootstrap >/dev/null 2>&1 || pkgs+=(debootstrap)
	command -v mkfs.xfs >/dev/null || pkgs+=(xfsprogs)
	command -v mkfs.btrfs >/dev/null || pkgs+=(btrfs-progs)
	if [ ${#pkgs[@]} -gt 0 ]; then
		diag "installing ${pkgs[*]}"
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
			--no-install-recommends "${pkgs[@]}" >"$T/apt.log" 2>&1 ||
			{ diag_file "$T/apt.log"; skip_all "cannot install ${pkgs[*]}"; }
	fi
	for t in systemd-nspawn debootstrap nsenter setpriv losetup mkfs.ext4 cc; do
		command -v "$t" >/dev/null || skip_all "$t not found"
	done
	[ -d /sys/fs/cgroup ] || skip_all "no /sys/fs/cgroup: systemd cannot boot here"
}

# nsp_mirror: the Debian mirror apt uses here (NSP_MIRROR overrides), the
# one that serves "$NSP_SUITE" itself (not -security, not a third party).
nsp_mirror() {
	local f m=
	if [ -n "${NSP_MIRROR:-}" ]; then
		echo "$NSP_MIRROR"
		return
	fi
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		m=$(awk -v suite="$NSP_SUITE" '
			# one-line format: deb [opts] URI SUITE COMPONENTS
			/^[ \t]*deb[ \t]/ {
				i = 2
				if ($i ~ /^\[/) while ($i !~ /\]$/) i++
				if ($(i + 1) ~ /\/debian\/?$/ && $(i + 2) == suite) { print $(i + 1); exit }
			}
			# deb822: a stanza with URIs: and Suites:
			/^[ \t]*$/ { uri = ""; ok = 0 }
			/^URIs:/ { for (j = 2; j <= NF; j++) if ($j ~ /\/debian\/?$/) uri = $j }
			/^Suites:/ { for (j = 2; j <= NF; j++) if ($j == suite) ok = 1 }
			uri != "" && ok { print uri; exit }
		' "$f")
		[ -n "$m" ] && break
	done
	echo "${m:-http://deb.debian.org/debian}"
}

# nsp_customize ROOT: what the cached root gets after debootstrap.
nsp_customize() {
	local r=$1
	echo fsindex-test >"$r/etc/hostname"
	# An image meant to be cloned has no machine id of its own: systemd makes
	# a transient one at each boot.
	: >"$r/etc/machine-id"
	rm -f "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin
	rm -rf "$r"/var/lib/apt/lists/*
	# Nothing in a test container needs these, and they cost boot time.
	chroot "$r" systemctl mask -q getty@tty1.service console-getty.service \
		systemd-networkd-wait-online.service 2>/dev/null
	return 0
}

# nsp_cache_root: set NSP_CACHED to the cached root, building it first when
# missing (debootstrap, 1-3 minutes).  Concurrent runs wait on a lock; a
# half-built root never carries the stamp and is rebuilt.
nsp_cache_root() {
	local stamp key tmp mirror fd t0 rc
	stamp="fsindex-nspawn v$NSP_ROOT_VERSION $NSP_SUITE minbase $NSP_INCLUDE"
	key=$(printf '%s' "$stamp" | sha256sum | cut -c1-12)
	NSP_CACHED=$NSP_CACHE/$NSP_SUITE-$key
	NSP_CACHE_MS=0
	if [ "$(cat "$NSP_CACHED/.fsindex-nspawn-stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	mkdir -p "$NSP_CACHE" || return 1
	exec {fd}>"$NSP_CACHE/.lock"
	if ! flock -w 900 "$fd"; then
		diag "timed out waiting for the lock on $NSP_CACHE/.lock"
		exec {fd}>&-
		return 1
	fi
	if [ "$(cat "$NSP_CACHED/.fsindex-nspawn-stamp" 2>/dev/null)" = "$stamp" ]; then
		exec {fd}>&-
		return 0
	fi
	mirror=$(nsp_mirror)
	diag "building the cached $NSP_SUITE root $NSP_CACHED from $mirror (once)"
	rm -rf -- "$NSP_CACHED" "$NSP_CACHE"/.build.*
	tmp=$(mktemp -d "$NSP_CACHE/.build.XXXXXX")
	t0=$(_nsp_ms)
	timeout -k 10 900 debootstrap --variant=minbase --include="$NSP_INCLUDE" \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		"$NSP_SUITE" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		diag "debootstrap failed (exit $rc); the end of its log:"
		tail -n 30 "$tmp/debootstrap.log" | sed 's/^/#   /'
		tail -n 30 "$tmp/root/debootstrap/debootstrap.log" 2>/dev/null | sed 's/^/#   /'
		rm -rf -- "$tmp"
		exec {fd}>&-
		return 1
	fi
	nsp_customize "$tmp/root"
	printf '%s\n' "$stamp" >"$tmp/root/.fsindex-nspawn-stamp"
	mv -- "$tmp/root" "$NSP_CACHED" && rm -rf -- "$tmp"
	NSP_CACHE_MS=$(($(_nsp_ms) - t0))
	diag "cached root built in ${NSP_CACHE_MS} ms"
	exec {fd}>&-
	[ -d "$NSP_CACHED" ]
}

_nsp_mount() { # like mount(8), and remembered for nsp_cleanup
	mount "$@" || return 1
	_nsp_mounts+=("${!#}")
}

# nsp_reap_stale: what a run killed with SIGKILL (its trap never ran) left:
# its container (found by --machine=fsindex-test-PID) and its mounts (the
# tmpfs named fsindex-nspawn and everything below it), once PID is gone.
# The container's init carries FSINDEX_NSP_OWNER=PID in its environment.
nsp_reap_stale() {
	local dir owner p
	awk '$1 == "fsindex-nspawn" && $3 == "tmpfs" { print $2 }' /proc/self/mounts |
		while read -r dir; do
			owner=$(cat "$dir/owner" 2>/dev/null) || continue
			[ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null || continue
			diag "reaping what the dead run $owner left at $dir"
			# Killing systemd-nspawn would leave the container running (it
			# is reparented): kill its init, which ends its pid namespace.
			for p in $(pgrep -x systemd); do
				tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
					grep -qx "FSINDEX_NSP_OWNER=$owner" && kill -KILL "$p"
			done
			for p in $(pgrep -f -- "[-]-machine=fsindex-test-$owner "); do
				kill -KILL "$p" 2>/dev/null
			done
			sleep 0.5
			umount -R "$dir" 2>/dev/null || umount -R -l "$dir"
			# ...and the dead run's scratch directory (lib.sh's $T).
			case $dir in
			*/fsindex-integ.*/nsp)
				grep -qF " ${dir%/nsp}/" /proc/self/mounts || rm -rf -- "${dir%/nsp}"
				;;
			esac
		done
}

# nsp_setup: a fresh, writable root at $NSP_ROOT from the cached one: an
# overlay with a tmpfs upper (NSP_CLONE=overlay) or a copy on that tmpfs
# (NSP_CLONE=copy).  Sets NSP_SETUP_MS.
nsp_setup() {
	local t0
	t0=$(_nsp_ms)
	NSP_DIR=$T/nsp
	mkdir -p "$NSP_DIR" || return 1
	nsp_reap_stale
	_nsp_mount -t tmpfs -o mode=755,size=4g fsindex-nspawn "$NSP_DIR" || return 1
	echo $$ >"$NSP_DIR/owner"
	mkdir -p "$NSP_DIR"/{upper,work,root,fs,img}
	NSP_ROOT=$NSP_DIR/root
	NSP_FS=$NSP_DIR/fs
	case $NSP_CLONE in
	overlay)
		_nsp_mount -t overlay -o "lowerdir=$NSP_CACHED,upperdir=$NSP_DIR/upper,workdir=$NSP_DIR/work" \
			fsindex-nspawn-root "$NSP_ROOT" || return 1
		;;
	copy)
		cp --reflink=auto -a "$NSP_CACHED/." "$NSP_ROOT/" || return 1
		;;
	*)
		diag "NSP_CLONE=$NSP_CLONE: expected overlay or copy"
		return 1
		;;
	esac
	mkdir -p "$NSP_ROOT$NSP_FS_IN"
	NSP_ARGS+=("--bind=$NSP_FS:$NSP_FS_IN")
	NSP_SETUP_MS=$(($(_nsp_ms) - t0))
}

# nsp_install_build: `make install DESTDIR=$NSP_ROOT` of the tree under test.
nsp_install_build() {
	make -C "$top_builddir" install DESTDIR="$NSP_ROOT" >"$T/install.log" 2>&1 && return 0
	diag "make install DESTDIR=$NSP_ROOT failed:"
	diag_file "$T/install.log"
	return 1
}

# nsp_mkfs TYPE [SIZE]: a dedicated filesystem mounted at $NSP_FS/TYPE
# before the boot, seen as $NSP_FS_IN/TYPE inside.  TYPE: ext4, xfs, btrfs
# (the subvolume "sub" of a fresh btrfs, mounted with subvol=sub; its
# top-level subvolume is mounted at $NSP_FS/btrfs-top), overlay
# (lower and upper on the tmpfs) or tmpfs.  The images are sparse files on
# the per-run tmpfs; loop devices go with the unmount (autoclear).
nsp_mkfs() {
	local type=$1 size=${2:-320M} img=$NSP_DIR/img/$1.img dir=$NSP_FS/$1 log=$T/mkfs-$1.log
	mkdir -p "$dir" || return 1
	case $type in
	ext4 | xfs)
		truncate -s "$size" "$img" && mkfs."$type" -q "$img" >"$log" 2>&1 &&
			_nsp_mount -o loop "$img" "$dir"
		;;
	btrfs)
		truncate -s "$size" "$img" && mkfs.btrfs -q "$img" >"$log" 2>&1 &&
			mkdir -p "$NSP_FS/btrfs-top" &&
			_nsp_mount -o loop "$img" "$NSP_FS/btrfs-top" &&
			btrfs -q subvolume create "$NSP_FS/btrfs-top/sub" >>"$log" 2>&1 &&
			_nsp_mount -o loop,subvol=sub "$img" "$dir"
		;;
	overlay)
		mkdir -p "$NSP_DIR"/img/ovl-{lower,upper,work} &&
			echo lower >"$NSP_DIR/img/ovl-lower/from-lower" &&
			_nsp_mount -t overlay -o "lowerdir=$NSP_DIR/img/ovl-lower,upperdir=$NSP_DIR/img/ovl-upper,workdir=$NSP_DIR/img/ovl-work" \
				fsindex-nspawn-ovl "$dir"
		;;
	tmpfs)
		_nsp_mount -t tmpfs -o size=64m fsindex-nspawn-tmp "$dir"
		;;
	*)
		diag "nsp_mkfs: unknown type $type"
		return 1
		;;
	esac || { diag "nsp_mkfs $type failed"; diag_file "$log"; return 1; }
}

# _nsp_children PID: the pids of PID's children.
_nsp_children() {
	ps -o pid= --ppid "$1" 2>/dev/null
}

# _nsp_find_pid1: the host pid of the container's init once it is systemd:
# a descendant of systemd-nspawn that is pid 1 of its own namespace.
_nsp_find_pid1() {
	local p c
	for p in $(_nsp_children "$NSP_LEADER"); do
		for c in $(_nsp_children "$p"); do
			[ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] || continue
			[ "$(awk '/^NSpid:/ { print $NF }' "/proc/$c/status" 2>/dev/null)" = 1 ] || continue
			echo "$c"
			return 0
		done
	done
	return 1
}

_nsp_alive() {
	[ -n "$NSP_LEADER" ] && kill -0 "$NSP_LEADER" 2>/dev/null
}

# nsp_boot: boot the container in the background and wait (NSP_TIMEOUT)
# until its systemd has finished starting up.  Sets NSP_PID1, NSP_STATE
# (running or degraded) and NSP_BOOT_MS.  Fails with the console log when
# the container does not come up.
nsp_boot() {
	local t0 deadline out
	t0=$(_nsp_ms)
	deadline=$((t0 + NSP_TIMEOUT * 1000))
	# timeout(1) is the last resort: it halts, then kills, a container that
	# outlives the script (even one killed with SIGKILL, whose trap never ran).
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=$NSP_UNIFIED \
		timeout -k 15 "$NSP_LIFETIME" systemd-nspawn -b --register=no --keep-unit --console=pipe \
		--machine="fsindex-test-$$" --setenv=FSINDEX_NSP_OWNER=$$ -D "$NSP_ROOT" \
		--system-call-filter="$NSP_SYSCALLS" \
		"${NSP_ARGS[@]}" </dev/null >"$T/nsp-console.log" 2>&1 &
	NSP_LEADER=$!
	NSP_PID1=
	while [ -z "$NSP_PID1" ]; do
		NSP_PID1=$(_nsp_find_pid1)
		[ -n "$NSP_PID1" ] && break
		if ! _nsp_alive || [ "$(_nsp_ms)" -gt $deadline ]; then
			diag "the container did not start; systemd-nspawn said:"
			diag_file "$T/nsp-console.log"
			return 1
		fi
		sleep 0.02
	done
	# Until systemd listens on its private socket, systemctl fails at once
	# ("Failed to connect to bus"); after that --wait blocks until the boot
	# is over and prints the state.
	while :; do
		out=$(nsp_run_t 10 systemctl is-system-running --wait 2>&1)
		case $out in
		running | degraded) break ;;
		esac
		if ! _nsp_alive || [ "$(_nsp_ms)" -gt $deadline ]; then
			diag "the container did not finish booting (last: $out)"
			diag_file "$T/nsp-console.log"
			_nsp_alive && nsp_journal
			return 1
		fi
		sleep 0.05
	done
	NSP_STATE=$out
	NSP_BOOT_MS=$(($(_nsp_ms) - t0))
}

# nsp_run_t SECS CMD...: CMD as root in all the container's namespaces, with
# a clean environment and a timeout.  Its stdin, stdout and stderr are ours.
nsp_run_t() {
	local secs=$1
	shift
	nsenter -t "$NSP_PID1" -a -- /usr/bin/env -i PATH="$NSP_PATH" HOME=/root LC_ALL=C \
		TERM=dumb timeout -k 5 "$secs" "$@"
}

# nsp_run CMD...: nsp_run_t with NSP_TIMEOUT.
nsp_run() {
	nsp_run_t "$NSP_TIMEOUT" "$@"
}

# nsp_run_as USER CMD...: CMD as USER, with USER's primary and supplementary
# groups from the container's /etc/group, and USER's clean environment.
nsp_run_as() {
	local user=$1
	shift
	nsp_run setpriv --reuid="$user" --regid="$(nsp_run id -g "$user")" --init-groups \
		--reset-env -- "$@"
}

# nsp_unit_run [SYSTEMD-RUN-OPTIONS...] -- CMD...: CMD as a transient service
# of the container's systemd, so with the container's capabilities, nspawn's
# seccomp filter and whatever -p Property=Value adds (User=, SystemCallFilter=
# ...); stdio is passed through (--pipe), the exit status is CMD's.
nsp_unit_run() {
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	nsp_run systemd-run --quiet --wait --pipe --collect "${opts[@]}" -- "$@"
}

# nsp_useradd NAME [GROUP,...]: a user in the container.
nsp_useradd() {
	nsp_run useradd -m ${2:+-G "$2"} "$1"
}

# nsp_unit NAME: write stdin to /etc/systemd/system/NAME in the container
# (before the boot, or follow with `nsp_run systemctl daemon-reload`).
nsp_unit() {
	mkdir -p "$NSP_ROOT/etc/systemd/system" && cat >"$NSP_ROOT/etc/systemd/system/$1"
}

# nsp_retry SECS CMD...: run CMD (on the host; usually nsp_run ...) every
# 50 ms until it succeeds, at most SECS seconds.  For what happens
# asynchronously (a reload, a watch event reaching the index).
nsp_retry() {
	local n=$(($1 * 20))
	shift
	while [ $n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
		n=$((n - 1))
	done
	"$@"
}

# nsp_wait_state UNIT STATE [SECS]: poll until `systemctl is-active UNIT`
# prints STATE (active, failed, inactive...).  Sets $nsp_state to the last.
nsp_wait_state() {
	local n=$((${3:-20} * 20))
	while [ $n -gt 0 ]; do
		nsp_state=$(nsp_run systemctl is-active "$1" 2>/dev/null)
		[ "$nsp_state" = "$2" ] && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

# nsp_prop UNIT PROP...: the values of PROPs (systemctl show -P), in the
# order asked, on one line.
nsp_prop() {
	local unit=$1 p vals=()
	shift
	for p in "$@"; do
		vals+=("$(nsp_run systemctl show -P "$p" "$unit")")
	done
	echo "${vals[*]}"
}

# nsp_journal [JOURNALCTL-ARGS...]: the container's journal of this boot as
# diagnostics (the last 60 lines; -u UNIT narrows it).
nsp_journal() {
	_nsp_alive || return 0
	nsp_run_t 15 journalctl -b --no-pager -q -o short-monotonic -n 60 "$@" 2>&1 | sed 's/^/#   /'
}

# nsp_poweroff: shut the container down as systemd would (SIGRTMIN+4 to its
# init is `systemctl poweroff`), waiting 30 s at most, then kill it.  Sets
# NSP_POWEROFF_MS.  Returns 1 when it had to be killed.
nsp_poweroff() {
	local t0 n rc=0
	_nsp_alive || return 0
	t0=$(_nsp_ms)
	[ -n "$NSP_PID1" ] && kill -s RTMIN+4 "$NSP_PID1" 2>/dev/null
	for ((n = 0; n < 600; n++)); do
		_nsp_alive || break
		sleep 0.05
	done
	if _nsp_alive; then
		diag "the container did not power off in 30 s: killing it"
		rc=1
		[ -n "$NSP_PID1" ] && kill -KILL "$NSP_PID1" 2>/dev/null
		sleep 1
		kill -KILL "$NSP_LEADER" $(_nsp_children "$NSP_LEADER") 2>/dev/null
	fi
	wait "$NSP_LEADER" 2>/dev/null
	NSP_POWEROFF_MS=$(($(_nsp_ms) - t0))
	NSP_LEADER=
	NSP_PID1=
	return $rc
}

# nsp_cleanup: no container, no mount left behind (registered with at_exit).
nsp_cleanup() {
	local i
	nsp_poweroff
	for ((i = ${#_nsp_mounts[@]} - 1; i >= 0; i--)); do
		umount "${_nsp_mounts[i]}" 2>/dev/null || umount -l "${_nsp_mounts[i]}" 2>/dev/null
	done
	_nsp_mounts=()
}

at_exit nsp_cleanup
