#!/bin/bash
# SPDX-License-Identifier: MIT
#
# storeopen.sh - how an index is opened: rescans of a tree whose shape
# changes leave an index that opens again (LMDB leaves valid data files
# shorter than their last page); every spelling of one index takes one lock;
# the index's own files are never followed through symlinks and root does
# not open another user's index; queries need little address space.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

command -v mdb_stat >/dev/null || bail "mdb_stat not found (Debian package lmdb-utils)"

# Sanitizer builds can run neither under ulimit -v (they reserve terabytes of
# address space) nor setgid (LeakSanitizer gives up under AT_SECURE).
sanitized=
ldd "$FSINDEX" 2>/dev/null | grep -q 'lib[atl]san' && sanitized=yes

# short_file DIR: is DIR/data.mdb shorter than its last page (LMDB's own view)?
short_file() {
	local info pages psize
	info=$(mdb_stat -e "$1" 2>/dev/null) || return 1
	pages=$(printf '%s\n' "$info" | sed -n 's/.*Number of pages used: *//p')
	psize=$(printf '%s\n' "$info" | sed -n 's/.*Page size: *//p')
	[ -n "$pages" ] && [ -n "$psize" ] && [ "$(stat -c %s "$1/data.mdb")" -lt $((pages * psize)) ]
}

# ---- 5: rescans of random tree shapes --------------------------------------------

# random_tree DIR: a few directories two or three deep, a few files in each;
# names from small sets, so rounds share some entries and differ in others.
random_tree() {
	local dirs=() d i
	rm -rf -- "$1"
	for ((i = RANDOM % 24; i > 0; i--)); do
		dirs+=("$1/d$((RANDOM % 8))/e$((RANDOM % 4))/f$((RANDOM % 3))")
	done
	mkdir -p -- "$1" "${dirs[@]}"
	for d in "$1" "${dirs[@]}" "${dirs[@]%/*}"; do
		for ((i = RANDOM % 7; i > 0; i--)); do
			printf "%$((RANDOM % 300))s" >"$d/file$((RANDOM % 16))"
		done
	done
}

RANDOM=5 # a fixed seed: the same forty shapes every run
fast_dir "$T/fast"
R=$T/fast/shapes
for j in 1 2; do
	DB=$T/shapes-j$j
	bad= short=0
	for round in $(seq 40); do
		random_tree "$R"
		FSI scan -q -j$j "$R" >/dev/null 2>"$T/err"
		rc=$?
		if [ $rc -ne 0 ]; then
			bad="round $round: scan exited $rc"
			break
		fi
		FSI find --count >"$T/count" 2>"$T/err"
		rc=$?
		if [ $rc -gt 1 ]; then
			bad="round $round: find --count exited $rc"
			break
		fi
		short_file "$DB" && short=$((short + 1))
		if [ $j = 2 ] && [ $round = 1 ]; then
			# Queries while the index is rewritten: each sees some commit.
			(
				while [ ! -e "$T/stop" ]; do
					FSI find --count >/dev/null 2>>"$T/loop.err"
					[ $? -le 1 ] || echo x >>"$T/loop.bad"
					sleep 0.02 # pacing only: leave the CPU to the scans
				done
			) &
			loop=$!
		fi
	done
	diag "-j$j: the data file was shorter than its last page after $short of the rounds"
	if [ $j = 2 ]; then
		touch "$T/stop"
		wait $loop
		is "$(grep -c x "$T/loop.bad" 2>/dev/null || echo 0)" 0 \
			"a loop of find --count during the -j2 rounds never failed"
		[ -s "$T/loop.bad" ] && diag_file "$T/loop.err"
	fi
	is "$bad" "" "-j$j: forty rescans of changing tree shapes, each followed by find --count"
	[ -n "$bad" ] && diag_file "$T/err"
	check_oracle "-j$j: after the last round" "$R"
done

# ---- 6: one index, one lock, however it is named ------------------------------------

D=$T/one
A=$T/treeA
B=$T/treeB
mkdir -p "$A/a1" "$B/b1"
echo a >"$A/a1/fa"
echo b >"$B/b1/fb"
DB=$D
scan_ok "scan A into the index directory" "$A"
ln -s "$D" "$T/link-dir"
ln -s "$D/data.mdb" "$T/link-data"
spellings=("$D" "$D/" "$D/data.mdb" "$D//./data.mdb" "/$D/./" "$T/link-dir" "$T/link-dir/data.mdb"
	"$T/link-data" "${D#"$T"/}")
command -v flock >/dev/null || bail "flock(1) not found (util-linux)"
for sp in "${spellings[@]}"; do
	# Hold the scan lock as a writer holds it: an flock on the data file.
	(cd "$T" && flock -n "$D/data.mdb" "$FSINDEX" scan -q --db "$sp" "$B") >/dev/null 2>"$T/err"
	is "$?" 2 "a second writer through --db '$sp' while one holds the lock exits 2"
	like "$(cat "$T/err")" "another scan is writing this index" "... and says why"
	(cd "$T" && FSINDEX_DB=$sp timeout 60 "$FSINDEX" find --count) >"$T/out" 2>"$T/err"
	is "$(cat "$T/out")" 3 "find through '$sp' reads the same index (FSINDEX_DB)"
done
(cd "$T" && "$FSINDEX" scan -q --db "${D#"$T"/}/data.mdb" "$A") >/dev/null 2>"$T/err"
is "$?" 0 "scan through a relative data.mdb spelling, unlocked, exits 0"
is "$(cd "$D" && ls -A | sort | tr '\n' ' ')" "data.mdb lock.mdb " \
	"every spelling used the same files (no data.mdb-lock, no lock file of ours)"

# The issue's race: both exit 0 only if they ran one after the other.
DB=$T/race
scan_ok "scan A into another index" "$A"
FSI scan -q "$B" >/dev/null 2>"$T/err-b" &
pid=$!
timeout 60 "$FSINDEX" scan -q --db "$DB/data.mdb" "$A" >/dev/null 2>"$T/err-a"
rc_a=$?
wait $pid
rc_b=$?
if [ $rc_a -eq 0 ] && [ $rc_b -eq 0 ]; then
	is "$(FSI find --count "$A/")$(FSI find --count "$B/")" 22 \
		"two writers through two spellings, both exit 0: both trees are in the index"
else
	like "$rc_a $rc_b $(cat "$T/err-a" "$T/err-b")" "^(0 2|2 0) .*another scan is writing this index" \
		"two writers through two spellings: one exits 2, saying another scan writes"
fi

# ---- 7: symlinks and other users' directories ---------------------------------------

DB=$T/own
scan_ok "scan into a fresh index" "$A"
echo 'not lock bytes' >"$T/victim"
sum=$(cksum <"$T/victim")
for f in lock.mdb data.mdb; do
	cp -a "$DB" "$T/sym-$f"
	rm -f "$T/sym-$f/$f"
	ln -s "$T/victim" "$T/sym-$f/$f"
	cmds="find scan"
	for cmd in $cmds; do
		if [ $cmd = find ]; then
			DB=$T/sym-$f FSI find --count >/dev/null 2>"$T/err"
		else
			DB=$T/sym-$f FSI scan -q "$A" >/dev/null 2>"$T/err"
		fi
		is "$?" 2 "$cmd with $f a symlink exits 2"
		like "$(cat "$T/err")" "symbolic link" "... saying its $f is a symbolic link"
		is "$(cksum <"$T/victim")" "$sum" "... and the symlink's target is unchanged"
	done
done

mkdir -m 1777 "$T/sticky"
DB=$T/sticky FSI scan -q "$A" >/dev/null 2>"$T/err"
is "$?" 2 "an index directory anyone may write is refused"
like "$(cat "$T/err")" "others may write to it" "... saying why"
ok "... before anything is written into it" test -z "$(ls -A "$T/sticky")"

if is_root && command -v setpriv >/dev/null &&
	setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$FSINDEX" &&
	setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$T"; then
	AS=(timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups)
	U=$T/user-index
	mkdir -m 700 "$U"
	chown 65534:65534 "$U"
	"${AS[@]}" "$FSINDEX" scan -q --db "$U" "$A" >/dev/null 2>"$T/err"
	is "$?" 0 "uid 65534 scans into its own index"
	is "$("${AS[@]}" "$FSINDEX" find --db "$U/data.mdb" --count 2>&1)" 3 "... and queries it"
	printf 'root only\n' >"$T/root-only"
	chmod 600 "$T/root-only"
	sum=$(cksum <"$T/root-only")
	"${AS[@]}" rm -f "$U/lock.mdb"
	"${AS[@]}" ln -s "$T/root-only" "$U/lock.mdb"
	for spelling in "--db $U" "FSINDEX_DB=$U/data.mdb"; do
		if [ "${spelling%%=*}" = FSINDEX_DB ]; then
			FSINDEX_DB=$U/data.mdb timeout 60 "$FSINDEX" find --count >/dev/null 2>"$T/err"
		else
			timeout 60 "$FSINDEX" find --db "$U" --count >/dev/null 2>"$T/err"
		fi
		is "$?" 2 "root's find ($spelling) refuses an index in uid 65534's directory"
		like "$(cat "$T/err")" "'$U[^']*': its directory belongs to another user" "... and says why"
		is "$(cksum <"$T/root-only")" "$sum" "... and the root-only file lock.mdb points to is unchanged"
	done
	timeout 60 "$FSINDEX" scan -q --db "$U" "$B" >/dev/null 2>"$T/err"
	is "$?" 2 "root's scan refuses it too"
	is "$(cksum <"$T/root-only")" "$sum" "... and leaves the root-only file unchanged"

	# A setgid fsindex (as installed) gives its group up before it opens an
	# index the user names, so the user's own index is the user's again
	# (with the group still held, only a root-owned directory would do).
	if findmnt -n -o OPTIONS -T "$T" 2>/dev/null | grep -qw nosuid; then
		skip "a setgid fsindex refuses the user's own index" "$T is mounted nosuid"
	elif [ -n "$sanitized" ]; then
		skip "a setgid fsindex refuses the user's own index" "a sanitizer build"
	else
		mkdir "$T/sgid"
		cp "$FSINDEX" "$T/sgid/fsindex"
		chgrp 65533 "$T/sgid/fsindex"
		chmod 2755 "$T/sgid/fsindex"
		DB=$T/user-index3
		mkdir -m 700 "$DB"
		chown 65534:65534 "$DB"
		"${AS[@]}" "$FSINDEX" scan -q --db "$DB" "$A" >/dev/null 2>&1
		is "$("${AS[@]}" "$T/sgid/fsindex" find --db "$DB" --count 2>"$T/err")" 3 \
			"a setgid fsindex reads the user's own index, its group dropped first"
		DB=$T/user-index4
		mkdir -m 700 "$DB"
		chown 65534:65534 "$DB"
		"${AS[@]}" "$T/sgid/fsindex" scan -q --db "$DB" "$A" >/dev/null 2>"$T/err"
		is "$?" 0 "... and scans into a new one as the user"
		is "$(stat -c %g "$DB/data.mdb"):$(stat -c %g "$DB/lock.mdb")" 65534:65534 \
			"... whose files it makes without the group (65533)"
	fi

	# 11: another user's query of an index it may read.
	DB=$T/shared
	scan_ok "root scans into an index" "$B"
	chmod 755 "$DB"
	chmod 644 "$DB/data.mdb"
	"${AS[@]}" "$FSINDEX" find --db "$DB" --count >/dev/null 2>"$T/err"
	is "$?" 2 "uid 65534 querying root's world-readable index without access to its lock file exits 2"
	like "$(cat "$T/err")" "cannot write its lock file, which every reader" "... saying what is needed"
	chmod 666 "$DB/lock.mdb"
	is "$("${AS[@]}" "$FSINDEX" find --db "$DB" --count 2>"$T/err")" 3 \
		"... and with a lock file it may write, the query works"
	diag_file "$T/err"
	DB=$T/user-index2
	mkdir -m 755 "$DB"
	chown 65534:65534 "$DB"
	"${AS[@]}" "$FSINDEX" scan -q --db "$DB" "$A" >/dev/null 2>&1
	"${AS[@]}" chmod 644 "$DB/data.mdb"
	"${AS[@]}" chmod 666 "$DB/lock.mdb"
	timeout 60 "$FSINDEX" find --db "$DB" --count >/dev/null 2>"$T/err"
	is "$?" 2 "root querying uid 65534's world-readable index is refused"
	like "$(cat "$T/err")" "belongs to another user .*owned by you or root" "... saying what is needed"
else
	skip "root and another user's index directory" "needs root and setpriv(1)"
fi

# ---- 9: a small address space -------------------------------------------------------

if [ -n "$sanitized" ]; then
	skip "queries under ulimit -v" "a sanitizer build"
else
	DB=$T/small-vm
	(
		ulimit -v 300000 || exit 99
		FSI scan -q -j2 "$B" >/dev/null 2>"$T/err" || exit 1
		FSI find --count >"$T/out" 2>>"$T/err" || exit 2
		FSI dups "$B" >/dev/null 2>>"$T/err"
		[ $? -le 1 ] || exit 3
	)
	rc=$?
	is "$rc" 0 "scan, find and dups under ulimit -v 300000 (rc names the failing step)"
	[ $rc -ne 0 ] && diag_file "$T/err"
	is "$(cat "$T/out")" 3 "... and find counts the tree"
fi

done_testing
