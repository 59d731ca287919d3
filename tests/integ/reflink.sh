#!/bin/bash
# reflink.sh - reflink for real: make loopback btrfs and XFS images (each a
# sparse 300 MiB file), mount them below the scratch directory and run the
# dupact unit test there with --expect-reflink, which then requires that
# FIDEDUPERANGE shares the kept file's extents (FIEMAP shows them shared),
# that a file differing in its middle is refused by the kernel, and that
# link/delete and an interrupted reflink (fault injection) behave there too.
# Skipped, with the reason, without root, mkfs.btrfs/mkfs.xfs (btrfs-progs,
# xfsprogs) or loop devices.
set -u
. "$top_srcdir/tests/integ/lib.sh"

unit=$top_builddir/tests/unit/test-dupact
[ -x "$unit" ] || bail "$unit is not built"
is_root || skip_all "mounting loopback images needs root"

# run_unit FS DIR: the unit test's TAP stream, renumbered into ours.
run_unit() {
	local fs=$1 dir=$2 line desc rc
	while IFS= read -r line; do
		case "$line" in
		"ok "*"# SKIP"*)
			skip "[$fs] ${line#*# SKIP }" "" ;;
		"ok "* | "not ok "*)
			desc=${line#*ok }
			desc=${desc#* }
			desc=${desc#- }
			case "$line" in
			not*) fail "[$fs] $desc" ;;
			*) pass "[$fs] $desc" ;;
			esac
			;;
		"# exit "*)
			rc=${line#\# exit }
			[ "$rc" = 0 ] && pass "[$fs] test-dupact exits 0" ||
				fail "[$fs] test-dupact exits $rc"
			;;
		"Bail out!"*) fail "[$fs] test-dupact: $line" ;;
		"#"*) echo "$line" ;;
		esac
	done < <("$unit" --dir "$dir" --expect-reflink 2>&1; echo "# exit $?")
}

for fs in btrfs xfs; do
	case $fs in
	btrfs) mkfs=(mkfs.btrfs -q) pkg=btrfs-progs ;;
	xfs) mkfs=(mkfs.xfs -q -m reflink=1) pkg=xfsprogs ;;
	esac
	if ! command -v "${mkfs[0]}" >/dev/null; then
		skip "reflink on $fs" "${mkfs[0]} not found (install $pkg)"
		continue
	fi
	img=$T/$fs.img mnt=$T/$fs
	mkdir -p "$mnt"
	if ! truncate -s 300M "$img" || ! "${mkfs[@]}" "$img" >"$T/mkfs-$fs.log" 2>&1; then
		diag_file "$T/mkfs-$fs.log"
		skip "reflink on $fs" "cannot make a $fs image"
		continue
	fi
	if ! mount -o loop "$img" "$mnt" 2>"$T/mount-$fs.log"; then
		diag_file "$T/mount-$fs.log"
		skip "reflink on $fs" "cannot mount a loopback $fs image (no loop devices or no $fs support)"
		rm -f "$img"
		continue
	fi
	_mounts+=("$mnt")
	run_unit "$fs" "$mnt"
	umount "$mnt" && unset '_mounts[${#_mounts[@]}-1]'
	rm -f "$img"
done
done_testing
