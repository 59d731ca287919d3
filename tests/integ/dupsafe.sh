#!/bin/bash
# SPDX-License-Identifier: MIT
#
# dupsafe.sh - the safety of `fsindex dups` actions where the simple story
# (one inode, one file; one run, start to end) does not hold:
#   - one file seen through two mounts: an overlay and its lower directory,
#     two overlays of one lower directory (--delete refuses, the file
#     survives a remount), a bind mount (one file), while two separate
#     filesystems (disk and tmpfs) are still deduplicated;
#   - SIGINT / SIGTERM during --delete and --link of 3,000 pairs: the run
#     stops at the next file, says what it did, exits 130;
#   - standard output that cannot be written (/dev/full, a full tmpfs):
#     nothing is changed unrecorded;
#   - a --link killed between link and rename: the leftover temporary name
#     is not reported, and the next run removes it.
# Oracles: find, stat, cmp, and the files themselves.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

# dups_run OUT ERR ARGS...: `fsindex dups ARGS` with stdout/stderr into files; sets $rc.
dups_run() {
	local out=$1 err=$2
	shift 2
	timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" dups -q --no-index "$@" >"$out" 2>"$err"
	rc=$?
}

# pair_tree DIR N: N pairs DIR/a/I and DIR/b/I, each pair with its own content.
pair_tree() {
	local i
	mkdir -p "$1/a" "$1/b"
	for ((i = 0; i < $2; i++)); do
		printf 'pair %d\n' "$i" >"$1/a/$i"
	done
	cp -p "$1/a/." "$1/b/" -R
}

# pairs_intact DIR N: every pair still has a name with its content.
pairs_intact() {
	local i l bad=0
	for ((i = 0; i < $2; i++)); do
		l=
		{ [ -f "$1/a/$i" ] && IFS= read -r l <"$1/a/$i"; } ||
			{ [ -f "$1/b/$i" ] && IFS= read -r l <"$1/b/$i"; }
		[ "$l" = "pair $i" ] || bad=$((bad + 1))
	done
	[ $bad -eq 0 ]
}

W=$T/work
fast_dir "$W"

# ---- 1. one file seen through two mounts --------------------------------------------------------

# mount_overlay MNT LOWER: an overlay of LOWER (upper and work dirs beside MNT).
mount_overlay() {
	mkdir -p "$1" "$1.upper" "$1.work" || return 1
	mount -t overlay overlay -o "lowerdir=$2,upperdir=$1.upper,workdir=$1.work" "$1" \
		2>/dev/null || return 1
	_mounts+=("$1")
}

OV=$T/ov	# not on $W: the overlay's layers on the scratch disk or tmpfs, whichever $T is
mkdir -p "$OV/lower"
head -c 20000 /dev/urandom >"$T/ref-data"
cp "$T/ref-data" "$OV/lower/data"
if ! is_root; then
	skip "overlay: --delete refuses a lower file seen through its overlay" "not root"
elif ! mount_overlay "$OV/m" "$OV/lower"; then
	skip "overlay: --delete refuses a lower file seen through its overlay" \
		"cannot mount an overlay here"
else
	M=$OV/m L=$OV/lower
	ino=$(stat -c %i "$L/data")
	diag "overlay: $M/data dev $(stat -c %d "$M/data"), $L/data dev $(stat -c %d "$L/data")"
	dups_run "$T/out" "$T/err" --delete "$M" "$L"
	diag_file "$T/err"
	is "$rc" 3 "overlay, --delete M L: exit 3 (an action was refused)"
	ok "... the lower file is still there, same inode, same bytes" \
		test "$(stat -c %i "$L/data" 2>/dev/null)" = "$ino" -a -f "$L/data"
	ok "... same bytes" cmp -s "$T/ref-data" "$L/data"
	unlike "$(cat "$T/out")" '^deleted ' "... nothing reported as deleted"
	ok "... the refusal names both paths and says why" \
		grep -qF "cannot delete '$L/data' (keeping '$M/data'): may be the kept file itself" "$T/err"
	umount "$M" && mount_overlay "$M" "$L"
	ok "... after a remount the merged file still reads the same bytes" cmp -s "$T/ref-data" "$M/data"

	dups_run "$T/out" "$T/err" --delete "$L" "$M"
	is "$rc" 3 "overlay, --delete L M: exit 3"
	ok "... no whiteout or copy-up in the upper layer" test -z "$(ls -A "$M.upper")"
	ok "... the merged file is intact" cmp -s "$T/ref-data" "$M/data"

	dups_run "$T/out" "$T/err" --delete --dry-run "$M" "$L"
	is "$rc" 3 "overlay, --delete --dry-run: the same refusal (exit 3)"
	unlike "$(cat "$T/out")" '^would delete ' "... and no 'would delete'"

	if mount_overlay "$OV/m2" "$L"; then
		dups_run "$T/out" "$T/err" --delete "$M" "$OV/m2"
		is "$rc" 3 "two overlays of one lower directory: --delete refused (exit 3)"
		ok "... the lower file is intact" cmp -s "$T/ref-data" "$L/data"
		ok "... no whiteout in the second overlay's upper layer" test -z "$(ls -A "$OV/m2.upper")"
	else
		skip "two overlays of one lower directory" "second overlay mount failed"
	fi

	# A real duplicate inside the overlay (both names on it) is still deleted.
	cp "$T/ref-data" "$M/zz-copy"
	dups_run "$T/out" "$T/err" --delete "$M"
	is "$rc" 0 "two files within one overlay: --delete works (exit 0)"
	ok "... 'zz-copy' deleted, 'data' kept" test ! -e "$M/zz-copy" -a -f "$M/data"
fi

# Two filesystems that hold their own files: a delete across them still works.
XT=$T/xdev-tmpfs XD=$T/xdev-disk
if try_mount_tmpfs "$XT" size=16m && [ "$(stat -c %d "$XT")" != "$(stat -c %d "$T")" ]; then
	mkdir -p "$XD"
	cp "$T/ref-data" "$XD/data" && cp "$T/ref-data" "$XT/data"
	dups_run "$T/out" "$T/err" --delete "$XD" "$XT"
	diag_file "$T/err"
	is "$rc" 0 "disk and tmpfs: --delete across them works (exit 0)"
	ok "... the tmpfs copy deleted, the disk copy kept" test ! -e "$XT/data" -a -f "$XD/data"
	ok "... intact" cmp -s "$T/ref-data" "$XD/data"
else
	skip "disk and tmpfs: --delete across them" "needs root to mount a tmpfs"
fi

# A bind mount: the same file under two roots is one file, never its own duplicate.
BD=$T/bind
mkdir -p "$BD/src" "$BD/view"
cp "$T/ref-data" "$BD/src/data" && cp "$T/ref-data" "$BD/src/zz-copy"
if is_root && mount --bind "$BD/src" "$BD/view" 2>/dev/null; then
	_mounts+=("$BD/view")
	dups_run "$T/out" "$T/err" --delete "$BD/src" "$BD/view"
	diag_file "$T/err"
	ok "bind mount: 'data' (the kept file) survives --delete of both roots" \
		cmp -s "$T/ref-data" "$BD/src/data"
	ok "... its duplicate 'zz-copy' is deleted" test ! -e "$BD/src/zz-copy"
else
	skip "bind mount: --delete of both roots" "needs root to bind-mount"
fi

# ---- 2. signals during actions ------------------------------------------------------------------

N=3000
# SIGINT raised by the process itself at a fixed system call of the actions
# (FSINDEX_DEBUG_RAISE_AT, dupact.h): deterministic, and the handler is the real one.
P=$W/sigint
pair_tree "$P" $N
FSINDEX_DEBUG_RAISE_AT=2000:2 dups_run "$T/out" "$T/err" --delete "$P"
diag_file "$T/err"
gone=$(find "$P" -type f | wc -l)
gone=$((2 * N - gone))
said=$(grep -c '^deleted ' "$T/out")
is "$rc" 130 "SIGINT during --delete of $N pairs: exit 130"
ok "... it stopped early ($gone deleted)" test "$gone" -gt 0 -a "$gone" -lt $N
is "$said" "$gone" "... every deletion is on stdout, and nothing else was deleted"
ok "... stderr says it was interrupted and how much was done" \
	grep -qE "interrupted: $gone names deleted \([0-9]+ bytes\)" "$T/err"
ok "... every pair still has a copy" pairs_intact "$P" $N

# SIGTERM from outside, sent once the first action line is read from a pipe
# nobody else reads: the run then blocks as soon as the pipe is full, and the
# report of 3,000 pairs does not fit in a pipe, so it cannot have finished
# when the signal comes.
P=$W/sigterm
pair_tree "$P" $N
mkfifo "$T/fifo"
timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" dups -q --no-index --link "$P" >"$T/fifo" 2>"$T/err" &
pid=$!
track_pid $pid
exec 3<"$T/fifo"
: >"$T/head"
# Read up to the first action line, then signal (timeout(1) passes SIGTERM on).
while IFS= read -r line <&3; do
	printf '%s\n' "$line" >>"$T/head"
	case $line in linked\ *) break ;; esac
done
kill -TERM $pid
cat <&3 >>"$T/head"
exec 3<&-
wait $pid
rc=$?
diag_file "$T/err"
linked=$(find "$P/b" -type f -links 2 | wc -l)
said=$(grep -c '^linked ' "$T/head")
is "$rc" 130 "SIGTERM during --link of $N pairs: exit 130"
ok "... it stopped early ($linked linked)" test "$linked" -gt 0 -a "$linked" -lt $N
is "$said" "$linked" "... every link is on stdout, and nothing else was linked"
ok "... stderr says what was done" grep -qE "interrupted: $linked names linked" "$T/err"
ok "... every pair still has its content" pairs_intact "$P" $N
is "$(find "$P" -name '.*' -type f | wc -l)" 0 "... no temporary name left"

# ---- 3. a report that cannot be written ---------------------------------------------------------

P=$W/full
pair_tree "$P" 20
for mode in "" --json; do
	timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" dups -q --no-index --delete $mode "$P" >/dev/full 2>"$T/err"
	rc=$?
	diag_file "$T/err"
	is "$rc" 2 "--delete ${mode:+$mode }>/dev/full: exit 2"
	is "$(find "$P" -type f | wc -l)" 40 "... nothing deleted"
	ok "... stderr says why" grep -q "No space left on device" "$T/err"
done

# Standard output fills up midway (a one-page tmpfs): each deletion is then
# on record, on stdout or else on stderr, and the run stops.
FT=$T/full-tmpfs
if try_mount_tmpfs "$FT" size=4k; then
	P=$W/fill
	pair_tree "$P" 200
	timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" dups -q --no-index --delete "$P" >"$FT/out" 2>"$T/err"
	rc=$?
	diag_file "$T/err"
	is "$rc" 2 "--delete with stdout filling up: exit 2"
	find "$P" -type f -printf '%P\n' | sort >"$T/left"
	(cd "$P" && for i in $(seq 0 199); do for s in a b; do
		[ -e "$s/$i" ] || echo "$s/$i"
	done; done) | sort >"$T/deleted"
	{
		sed -n "s|^deleted '$P/\([^']*\)'.*|\1|p" "$FT/out"
		sed -n "s|^fsindex: deleted '$P/\([^']*\)'.*|\1|p" "$T/err"
	} | sort >"$T/recorded"
	ok "... it stopped early" test "$(wc -l <"$T/deleted")" -gt 0 -a "$(wc -l <"$T/deleted")" -lt 200
	same_bytes "... every deletion is recorded, on stdout or stderr" "$T/recorded" "$T/deleted"
	ok "... every pair still has a copy" pairs_intact "$P" 200
else
	skip "--delete with stdout filling up" "needs root to mount a tmpfs"
fi

# ---- 4. a leftover temporary name of an interrupted --link --------------------------------------

# The state a kill between link and rename leaves: made by hand, then for real.
P=$W/tmp
mkdir -p "$P/a" "$P/b"
cp "$T/ref-data" "$P/a/k" && cp "$T/ref-data" "$P/b/f"
ln "$P/a/k" "$P/b/.f.fsindex-Ab12cd"
# Look-alikes that are not provably ours: no 'ghost' beside it; a single link.
ln "$P/a/k" "$P/b/.ghost.fsindex-Zz9yX8"
echo mine >"$P/b/.mine.fsindex-aaaaaa" && echo mine >"$P/b/mine"
dups_run "$T/out" "$T/err" --all-names "$P"
unlike "$(cat "$T/out")" '\.(f|ghost)\.fsindex-' "dups --all-names does not list leftover names as names of the file"
ok "... but lists a look-alike that is a file of its own" grep -qxF "$P/b/.mine.fsindex-aaaaaa" "$T/out"
dups_run "$T/out" "$T/err" --link "$P"
diag_file "$T/err"
is "$rc" 0 "--link over a leftover temporary name: exit 0"
ok "... says it removed it" \
	grep -qxF "removed leftover temporary link '$P/b/.f.fsindex-Ab12cd' (to '$P/a/k')" "$T/out"
ok "... and removed it" test ! -e "$P/b/.f.fsindex-Ab12cd"
ok "... the duplicate is linked" test "$(stat -c %i "$P/b/f")" = "$(stat -c %i "$P/a/k")"
ok "... intact" cmp -s "$T/ref-data" "$P/b/f"
ok "... a look-alike with no name beside it is left" test -e "$P/b/.ghost.fsindex-Zz9yX8"
ok "... a look-alike that is a file of its own is the user's: kept, not removed" \
	grep -qx mine "$P/b/.mine.fsindex-aaaaaa"

# For real: kill -9 at each system call of a --link in turn, until one leaves a
# temporary name behind; then a complete rerun cleans it up.
P=$W/kill
found=
for n in $(seq 1 60); do
	rm -rf "$P"
	mkdir -p "$P/a" "$P/b"
	cp "$T/ref-data" "$P/a/k" && cp "$T/ref-data" "$P/b/f"
	FSINDEX_DEBUG_RAISE_AT=$n:9 dups_run "$T/out" "$T/err" --link "$P"
	[ "$rc" -eq 0 ] && break
	left=$(find "$P" -name '.*fsindex-*')
	if [ -n "$left" ]; then
		found=$n
		break
	fi
done
if [ -n "$found" ]; then
	diag "killed at system call $found: left $left"
	is "$(stat -c %i "$left")" "$(stat -c %i "$P/a/k")" "kill -9 during --link: the leftover is a link to the kept file"
	ok "... the duplicate itself is intact" cmp -s "$T/ref-data" "$P/b/f"
	dups_run "$T/out" "$T/err" --link "$P"
	diag_file "$T/err"
	is "$rc" 0 "... a complete rerun: exit 0"
	is "$(find "$P" -name '.*' | wc -l)" 0 "... and no temporary name is left"
	is "$(stat -c %i "$P/b/f")" "$(stat -c %i "$P/a/k")" "... the duplicate is linked"
	is "$(stat -c %h "$P/a/k")" 2 "... two names, no stray third"
else
	fail "kill -9 during --link: no run left a temporary name (FSINDEX_DEBUG_RAISE_AT)"
fi

done_testing
