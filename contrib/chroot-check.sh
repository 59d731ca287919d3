#!/bin/bash
# SPDX-License-Identifier: MIT
#
# chroot-check.sh - run the README's two commands in a fresh Debian 12 chroot
# (debootstrap minbase plus git), as a Debian package build (sbuild,
# pbuilder) or a new user with nothing installed would.
#
# Usage (as root): contrib/chroot-check.sh [SRC] [CHROOT]
#   SRC     a git work tree (default: this one); its HEAD is cloned into
#           CHROOT/src and its uncommitted changes to tracked files applied
#   CHROOT  the chroot (default /work/chroot-bookworm)
# Environment: MIRROR (default: http://deb.debian.org/debian); REUSE=1 runs in
# CHROOT as the last run left it (packages installed), which is quicker;
# UNPRIVILEGED=1 then runs `make check-summary` once more as an ordinary user
# of the chroot, as sbuild runs a package's tests (no mounts, no CAP_*).
#
# The first run makes CHROOT with debootstrap (minbase) and git, and keeps a
# copy of it in CHROOT.base.tar; every later run starts from that copy, so
# each is a fresh Debian 12 with nothing but git, yet needs no debootstrap.
#
# /proc, /sys, /dev and /dev/pts are mounted into the chroot the way sbuild's
# schroot does, and unmounted on exit whatever happens.  The chroot's own /
# is not a mount point, so the mount table inside lists no entry for it.
# The output of both commands is in CHROOT/src/chroot-check.log; the exit
# status is 0 only if both succeeded.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
src=$(cd "${1:-$top}" && pwd) || exit 2
root=${2:-/work/chroot-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" -eq 0 ] || { echo "chroot-check: must run as root" >&2; exit 2; }

mounted=()
cleanup() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mnt ARGS... TARGET: mount unless TARGET is a mount point already.
mnt() {
	local target=${*: -1}
	mountpoint -q "$target" && return 0
	mkdir -p "$target" && mount "$@" && mounted+=("$target")
}

in_root() {
	chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

mount_all() {
	mnt -t proc proc "$root/proc" || exit 2
	mnt -t sysfs sysfs "$root/sys" || exit 2
	mnt --bind /dev "$root/dev" || exit 2
	mnt -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" || exit 2
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
}

base=$root.base.tar
if [ ! -f "$base" ]; then
	if [ ! -x "$root/usr/bin/apt-get" ]; then
		command -v debootstrap >/dev/null ||
			apt-get install -y -qq debootstrap >/dev/null || exit 2
		echo "chroot-check: debootstrap --variant=minbase bookworm $root"
		debootstrap --variant=minbase bookworm "$root" "$mirror" \
			>"$root.debootstrap.log" 2>&1 || { tail -n 20 "$root.debootstrap.log"; exit 2; }
		mount_all
		in_root apt-get update -qq && in_root apt-get install -y -qq git >/dev/null ||
			exit 2
		cleanup
		mounted=()
		tar -C "$root" --one-file-system -cf "$base.tmp" . && mv "$base.tmp" "$base" || exit 2
	else
		echo "chroot-check: $root exists but $base does not: REUSE=1 only" >&2
		REUSE=1
	fi
elif [ "${REUSE:-}" != 1 ]; then
	# Start afresh from the copy; never while anything is mounted below.
	if grep -q " ${root%/}/" /proc/self/mountinfo; then
		echo "chroot-check: something is mounted below $root; not removing it" >&2
		exit 2
	fi
	rm -rf --one-file-system "$root" && mkdir -p "$root" && tar -C "$root" -xf "$base" || exit 2
fi
mount_all

# A fresh clone, as a user would start from, plus what is not committed yet.
rm -rf "$root/src"
git clone -q "$src" "$root/src" || exit 2
git -C "$src" diff HEAD --binary | git -C "$root/src" apply --allow-empty || exit 2

# The two commands exactly as README.md writes them: its first two sh blocks.
mapfile -t cmds < <(awk '/^```sh$/ { n++; getline; if (n <= 2) print }' "$root/src/README.md")
[ "${#cmds[@]}" -eq 2 ] || { echo "chroot-check: README.md has no two commands" >&2; exit 2; }

status=0
log=$root/src/chroot-check.log
: >"$log"
for i in 0 1; do
	echo "chroot-check: README command $((i + 1)): ${cmds[i]}" | tee -a "$log"
	in_root /bin/bash -c "cd /src && ${cmds[i]}" >>"$log" 2>&1
	rc=$?
	tail -n 5 "$log"
	echo "chroot-check: command $((i + 1)) exited $rc" | tee -a "$log"
	[ "$rc" -eq 0 ] || status=1
done
if [ "${UNPRIVILEGED:-}" = 1 ]; then
	echo "chroot-check: make check-summary as the unprivileged user 'builder'" | tee -a "$log"
	in_root sh -c 'id builder >/dev/null 2>&1 || useradd -m builder' &&
		rm -rf "$root/home/builder/src" && cp -a "$root/src" "$root/home/builder/src" &&
		in_root chown -R builder: /home/builder/src || exit 2
	in_root setpriv --reuid=builder --regid=builder --init-groups --reset-env \
		sh -c 'cd ~/src && make -s distclean && ./configure -q --enable-werror &&
			make -j"$(nproc)" check-summary' >>"$log" 2>&1
	rc=$?
	tail -n 1 "$log"
	echo "chroot-check: unprivileged make check-summary exited $rc" | tee -a "$log"
	[ "$rc" -eq 0 ] || status=1
fi
grep -h '^\(not ok\|FAIL\|ERROR\)' "$log" /dev/null
for f in "$root"/src/tests/*/*.log "$root"/home/builder/src/tests/*/*.log; do
	[ -f "$f" ] && grep -q '^not ok\|^ok .*# SKIP\|^1\.\.0 # SKIP' "$f" &&
		echo "chroot-check: ${f#"$root"/}: $(grep -c '^not ok' "$f") failed," \
			"$(grep -c '^ok .*# SKIP\|^1\.\.0 # SKIP' "$f") skipped"
done
exit "$status"
