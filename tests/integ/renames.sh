#!/bin/bash
# SPDX-License-Identifier: MIT
#
# renames.sh - a renamed or moved file or directory keeps its identity: a
# rescan matches entries by (dev, ino) as well as by name, so what was moved
# is not read again (strace is the oracle for what is read), its stored
# hashes follow it (xxh128sum is the oracle for them), and the index still
# equals find(1).  A swapped pair ends up right.  Run at -j1 and -j2.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

command -v strace >/dev/null || bail "strace not found (Debian package strace)"
command -v xxh128sum >/dev/null || bail "xxh128sum not found (Debian package xxhash)"

# mk_tree DIR: 1,000 files in big/, a few in a/ and b/, a pair to swap, a
# nested directory to move; every file's content is distinct, and every
# mtime is in the past (a file modified within a second of a scan is read
# again by the next one, by design: see "racy" in fsindex(1)).
mk_tree() {
	local r=$1 i
	mkdir -p "$r/big" "$r/a" "$r/b" "$r/deep/x/y" "$r/pair"
	for i in $(seq 1 1000); do printf 'big file %d\n' "$i" >"$r/big/f$i"; done
	for i in 1 2 3 4; do printf 'a file %d\n' "$i" >"$r/a/f$i"; done
	printf 'b file\n' >"$r/b/g"
	printf 'deep %d\n' 1 >"$r/deep/x/d1"
	printf 'deep %d\n' 2 >"$r/deep/x/y/d2"
	printf 'left\n' >"$r/pair/left"
	printf 'right\n' >"$r/pair/right"
	printf 'edited\n' >"$r/a/edited"
	find "$r" -type f -exec touch -d '2020-01-02 03:04:05 UTC' {} +
}

check_hashes() {
	xxh_oracle "$2" >"$T/xxh.exp"
	index_hashes --type f >"$T/xxh.got"
	same_bytes "$1" "$T/xxh.got" "$T/xxh.exp"
}

for jobs in 1 2; do
	H=$T/tree-j$jobs
	DB=$T/db-j$jobs
	mk_tree "$H"
	scan_ok "-j$jobs: scan --hash" --hash --io=sync -j"$jobs" "$H"
	hbig=$(xxh128sum <"$H/big/f500")
	hbig=${hbig%% *}
	hleft=$(xxh128sum <"$H/pair/left")
	hleft=${hleft%% *}

	mv "$H/big" "$H/renamed-big"			# a directory of 1,000 files
	mv "$H/a/f1" "$H/b/f1"				# a file to another directory
	mv "$H/a/f2" "$H/b/f2-renamed"			# ...under another name
	mv "$H/a/f3" "$H/a/f3-renamed"			# renamed in place
	mv "$H/deep" "$H/b/deep"			# a directory to another one
	mv "$H/pair/left" "$H/pair/t"			# a swapped pair
	mv "$H/pair/right" "$H/pair/left"
	mv "$H/pair/t" "$H/pair/right"
	mkdir "$H/new-dir"				# into a directory new to the index
	mv "$H/a/f4" "$H/new-dir/f4"
	printf 'edited again\n' >"$H/a/edited.tmp"	# an editor's save: a new inode
	mv "$H/a/edited.tmp" "$H/a/edited"
	printf 'brand new\n' >"$H/b/brand-new"
	touch -d '2020-01-03 00:00:00 UTC' "$H/a/edited" "$H/b/brand-new"

	strace_log "$T/st" "$FSINDEX" scan --db "$DB" -v --io=sync -j"$jobs" "$H"
	is "$rc" 0 "-j$jobs: rescan after the moves (under strace) exits 0" || diag_file "$T/st.err"
	strace_content_files "$T/st" "$H" >"$T/st.files"
	printf '%s\0' "$H/a/edited" "$H/b/brand-new" | sort -z >"$T/st.exp"
	same_bytes "-j$jobs: the rescan reads only the new and the rewritten file, nothing moved" \
		"$T/st.files" "$T/st.exp"
	# The directories count once: what is inside a moved one did not move in it.
	like "$(cat "$T/st.err")" ' 8 moved, ' "-j$jobs: -v counts the 8 entries moved"
	check_oracle "-j$jobs: after the moves the index equals find" "$H"
	check_hashes "-j$jobs: every stored hash = xxh128sum at the new paths" "$H"
	is "$(FSI find --hash "$hbig")" "$H/renamed-big/f500" "-j$jobs: find --hash finds a moved file"
	is "$(FSI find --hash "$hleft")" "$H/pair/right" "-j$jobs: the swapped pair: each name has the other's hash"

	# A second rescan changes nothing (the moved entries were stored right).
	strace_log "$T/st2" "$FSINDEX" scan --db "$DB" -v --io=sync -j"$jobs" "$H"
	strace_content_files "$T/st2" "$H" >"$T/st2.files"
	is "$(count0 "$T/st2.files")" 0 "-j$jobs: the next rescan reads nothing" ||
		nul_list "$T/st2.files" | head -n 5 | sed 's/^/#   /'
	like "$(cat "$T/st2.err")" ' 0 added, [0-9]+ changed, 0 moved, 0 removed' \
		"-j$jobs: and finds nothing added, moved or removed"

	# Moved out of a directory that is then removed: indexed anew, since the
	# removed directory is one gone entry (its subtree is not listed again).
	mv "$H/b/deep" "$H/deep-again"
	mv "$H/renamed-big/f7" "$H/f7"
	mv "$H/renamed-big/f8" "$H/a/f8"
	rm -rf "$H/renamed-big" "$H/b"
	strace_log "$T/st3" "$FSINDEX" scan --db "$DB" -v --io=sync -j"$jobs" "$H"
	is "$rc" 0 "-j$jobs: rescan after removals exits 0"
	strace_content_files "$T/st3" "$H" >"$T/st3.files"
	printf '%s\0' "$H/f7" "$H/a/f8" "$H/deep-again/x/d1" "$H/deep-again/x/y/d2" |
		sort -z >"$T/st3.exp"
	same_bytes "-j$jobs: what was moved out of removed directories is read again" \
		"$T/st3.files" "$T/st3.exp"
	check_oracle "-j$jobs: after the removals the index equals find" "$H"
	check_hashes "-j$jobs: after the removals every hash = xxh128sum" "$H"
done
done_testing
