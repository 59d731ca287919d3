#!/bin/bash
# fsid.sh - filesystem identity: an ext4 image scanned with --hash, then
# attached to another loop device (st_dev changes, the filesystem does not),
# is rescanned without a file read or a node added or changed, its hashes
# kept; a new filesystem (another UUID) mounted at the same path on the very
# device the old one used is taken in as all new.  Skipped without root,
# mkfs.ext4 or loop devices.
set -u
. "$top_srcdir/tests/integ/lib.sh"

is_root || skip_all "loop devices need root"
command -v mkfs.ext4 >/dev/null || skip_all "mkfs.ext4 not found (install e2fsprogs)"
command -v losetup >/dev/null || skip_all "losetup not found (install util-linux)"

loops=()
detach_all() {
	local i
	umount "$mnt" 2>/dev/null
	for ((i = ${#loops[@]} - 1; i >= 0; i--)); do
		losetup -d "${loops[i]}" 2>/dev/null
	done
}
mnt=$T/mnt
at_exit detach_all

mkimg() {
	truncate -s 32M "$1" && mkfs.ext4 -q -F "$1" >"$T/mkfs.log" 2>&1
}

# attach IMG: attach IMG to a free loop device, named in $loop.
attach() {
	loop=$(losetup -f --show "$1" 2>"$T/losetup.err") || return 1
	loops+=("$loop")
}

detach() {
	local i
	losetup -d "$1" || return 1
	for i in "${!loops[@]}"; do
		[ "${loops[i]}" = "$1" ] && unset 'loops[i]'
	done
	return 0
}

# scan_summary: scan -v --hash of $mnt; the summary in $T/scan.err.
scan_summary() {
	FSI scan -v --hash "$mnt" >/dev/null 2>"$T/scan.err"
	rc=$?
	diag_file "$T/scan.err"
}

mkdir -p "$mnt"
mkimg "$T/a.img" || { diag_file "$T/mkfs.log"; skip_all "cannot make an ext4 image"; }
mkimg "$T/dummy.img" || skip_all "cannot make an ext4 image"
attach "$T/a.img" && dev1=$loop || { diag_file "$T/losetup.err"; skip_all "no loop device"; }
mount "$dev1" "$mnt" 2>"$T/mount.err" || { diag_file "$T/mount.err"; skip_all "cannot mount ext4 on $dev1"; }
_mounts+=("$mnt")

mkdir -p "$mnt/d/e" "$mnt/f"
for i in $(seq 1 40); do
	printf 'content %d\n' "$((i % 10))" >"$mnt/d/file$i"
done
head -c 300000 /dev/urandom >"$mnt/d/e/big"
cp "$mnt/d/e/big" "$mnt/f/big-copy"
ln -s d/file1 "$mnt/link"
touch -d '2020-01-01' "$mnt"/d/* "$mnt/d/e/big" "$mnt/f/big-copy"
sync

scan_summary
is "$rc" 0 "first scan exits 0"
like "$(cat "$T/scan.err")" "hashed 42 files" "first scan hashes the files"
index_hashes >"$T/hashes1"
check_oracle "first scan" "$mnt"
st1=$(stat -c %d "$mnt")

# Hold the first device busy with another image, so that ours moves.
umount "$mnt" && unset '_mounts[${#_mounts[@]}-1]'
detach "$dev1" || bail "cannot detach $dev1"
attach "$T/dummy.img" || bail "cannot attach the dummy image"
attach "$T/a.img" && dev2=$loop || bail "cannot attach the image again"
mount "$dev2" "$mnt" || bail "cannot mount $dev2"
_mounts+=("$mnt")
st2=$(stat -c %d "$mnt")
diag "image on $dev1 (st_dev $st1), then on $dev2 (st_dev $st2)"
ok "the filesystem is at another st_dev" [ "$st1" != "$st2" ]

scan_summary
is "$rc" 0 "rescan after the move exits 0"
like "$(cat "$T/scan.err")" "hashed 0 files" "no file read again"
like "$(cat "$T/scan.err")" " 0 added, 0 changed, 0 moved, 0 removed" "no node added or changed, none removed"
index_hashes >"$T/hashes2"
same_bytes "hashes kept" "$T/hashes2" "$T/hashes1"
xxh_oracle "$mnt" >"$T/xxh"
same_bytes "hashes match xxh128sum" "$T/hashes2" "$T/xxh"
check_oracle "after the move" "$mnt"

# A third scan: the records carry the new st_dev now.
scan_summary
like "$(cat "$T/scan.err")" "hashed 0 files" "third scan reads nothing either"
like "$(cat "$T/scan.err")" " 0 added, 0 changed" "third scan changes nothing"

# Moved once more, taken in by `rescan` of a subdirectory, the root scanned
# with -x: the root's new st_dev is the one -x keeps to.
FSI scan -q -x "$mnt" || fail "scan -x"
umount "$mnt" && unset '_mounts[${#_mounts[@]}-1]'
detach "$dev2" || bail "cannot detach $dev2"
attach "$T/dummy.img" || bail "cannot attach the dummy image twice"
attach "$T/a.img" && dev2=$loop || bail "cannot attach the image a third time"
mount "$dev2" "$mnt" || bail "cannot mount $dev2"
_mounts+=("$mnt")
diag "image on $dev2 now (st_dev $(stat -c %d "$mnt"))"
mkdir "$mnt/d/e/sub"
echo new >"$mnt/d/e/sub/added"
FSI rescan -v "$mnt/d/e" >/dev/null 2>"$T/scan.err"
is "$?" 0 "rescan after a second move exits 0"
diag_file "$T/scan.err"
like "$(cat "$T/scan.err")" "hashed 1 files" "rescan reads the new file only"
like "$(cat "$T/scan.err")" " 2 added, [0-9]+ changed, 0 moved, 0 removed" \
	"rescan adds the new directory and file"
index_hashes >"$T/hashes4"
xxh_oracle "$mnt" >"$T/xxh4"
same_bytes "after the second move: hashes match xxh128sum" "$T/hashes4" "$T/xxh4"
check_oracle "after the second move" "$mnt"
rm -r "$mnt/d/e/sub"
FSI scan -q "$mnt" || fail "scan after the second move"

# Another filesystem on the same device and path: nothing of the old one is its.
umount "$mnt" && unset '_mounts[${#_mounts[@]}-1]'
detach "$dev2" || bail "cannot detach $dev2"
mkimg "$T/b.img" || bail "cannot make the second image"
attach "$T/b.img" && dev3=$loop || bail "cannot attach the second image"
mount "$dev3" "$mnt" || bail "cannot mount $dev3"
_mounts+=("$mnt")
diag "second image on $dev3 (st_dev $(stat -c %d "$mnt"))"
mkdir -p "$mnt/d/e" "$mnt/g"
for i in $(seq 1 40); do
	printf 'other %d\n' "$((i % 7))" >"$mnt/d/file$i"
done
cp "$mnt/d/file1" "$mnt/g/dup"
touch -d '2020-01-01' "$mnt"/d/* "$mnt/g/dup"
sync
scan_summary
is "$rc" 0 "scan of the new filesystem exits 0"
like "$(cat "$T/scan.err")" "hashed 41 files" "every file of the new filesystem is read"
like "$(cat "$T/scan.err")" " 0 moved" "nothing of the old filesystem is taken as moved"
check_oracle "new filesystem" "$mnt"
index_hashes >"$T/hashes3"
xxh_oracle "$mnt" >"$T/xxh3"
same_bytes "new filesystem: hashes match xxh128sum" "$T/hashes3" "$T/xxh3"
# The table now gives the number to the new filesystem: nothing to read again.
scan_summary
like "$(cat "$T/scan.err")" "hashed 0 files" "the new filesystem scanned again: nothing read"
like "$(cat "$T/scan.err")" " 0 added, 0 changed, 0 moved, 0 removed" \
	"...and nothing changed"
done_testing
