#!/bin/bash
# SPDX-License-Identifier: MIT
#
# oracle.sh - scan hostile trees and compare the index with GNU find: hostile
# names, a path past PATH_MAX, symlink loops, a FIFO, hard links, an empty
# directory, relative and symlinked roots, overlapping roots, --exclude, the
# summary line, a 10,000-deep chain, -x across a mount point, map growth.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

SUMMARY_RE='^fsindex: scanned [0-9]+ dirs, [0-9]+ files, 0 errors in [0-9]+\.[0-9]{2} s$'

W=$T/w
mk_weird_tree "$W/weird" || bail "cannot build the weird tree"
mk_deep_tree "$W/deep" || bail "cannot build the deep tree"
mk_links_tree "$W/links" || bail "cannot build the links tree"
mkdir "$W/empty"

# ---- the hostile tree, against the oracle ------------------------------------

t0=$(now_ms)
FSI scan "$W" >"$T/out" 2>"$T/err"
rc=$?
t1=$(now_ms)
is "$rc" 0 "scan of the hostile tree exits 0 (FIFO not opened, no hang)"
diag_file "$T/err"
ok "scan prints nothing on stdout" test ! -s "$T/out"
like "$(tail -n 1 "$T/err")" "$SUMMARY_RE" "the summary line on stderr"
is "$(grep -vc 'scanned' "$T/err")" 0 "no other stderr output on a clean scan"
diag "scan took $((t1 - t0)) ms: $(cat -v "$T/err" | tail -n 1)"
check_oracle "hostile tree" "$W"

# Facts that the whole-tree comparison implies, asserted on their own so that
# a failure says what broke.
is "$(FSI find --printf '%y\n' "$W/links/loop")" "l" "a link to its own dir is type l"
FSI find "$W/links/loop/" >/dev/null
is "$?" 1 "nothing is indexed below a link to '.' (not followed)"
is "$(FSI find --name --type l '[ab]' --printf '%f %y\n')" "a l
b l" "the a -> b -> a loop is two links"
is "$(FSI find --name '[d]angling' --printf '%y %s\n')" "l $(printf %s /nonexistent/fsindex/target | wc -c)" \
	"a dangling link: type l, size = length of its target"
is "$(FSI find --type p --printf '%p %s\n')" "$W/links/fifo 0" "the FIFO is listed (type p)"
is "$(FSI find --count --name 'hard[123]')" 3 "three hard links, three entries"
is "$(FSI find --name 'hard[123]' --printf '%i %n\n' | sort -u | wc -l)" 1 "hard links share inode and link count"
is "$(FSI find --type d --name empty-dir)" "$W/links/empty-dir" "the empty directory is listed"
if [ -c "$W/links/chardev" ]; then
	is "$(FSI find --type c --printf '%f\n')" "chardev" "a character device is listed (type c)"
fi
is "$(FSI find --name sparse-5g --printf '%s\n')" 5368709120 "a sparse 5 GiB file: size past 32 bits"
is "$(FSI find --name old-mtime --printf '%T@\n')" "981173106.1234567890" "mtime with nanoseconds"

# Names as bytes.
is "$(FSI find -0 --name $'new\nline' | od -An -c | tr -s ' ')" \
	"$(printf '%s\0' "$W/weird/new"$'\n'"line" | od -An -c | tr -s ' ')" "a name with a newline, -0"
is "$(FSI find --count --name $'*\xff\xfe*')" 1 "a name of invalid UTF-8 bytes"
is "$(FSI find --count --name $'\xfe\xff')" 1 "a directory named with invalid UTF-8"
is "$(FSI find --count "$W/weird/-rf")" 1 "a name with a leading dash"
is "$(FSI find --count -- -rf)" 1 "'--' ends the options: a pattern with a leading dash"
is "$(FSI find --count --name --type f "$(name255)")" 8 "255-byte names (1 + 7 in hostile dirs)"
is "$(FSI find --printf '%f' --name 'star\*')" 'star*' "a name with '*' (matched with an escaped glob)"

# Past PATH_MAX.
got=$(FSI find --name '[b]ottom' --printf '%p' | wc -c)
exp=$(find -P "$W/deep" -name bottom -printf '%p' | wc -c)
is "$got" "$exp" "a file deeper than PATH_MAX: same path length as find ($exp bytes)"
ok "... which is longer than PATH_MAX" test "$exp" -gt 4096
is "$(FSI find --count "$W/deep")" "$(find -P "$W/deep" -printf . | wc -c)" "every entry of the deep tree"

# ---- the FIFO alone, with a short timeout -------------------------------------

DB=$T/db-fifo FSI_TIMEOUT=20 FSI scan -q "$W/links" >/dev/null 2>&1
rc=$?
ok "scan of a tree with a FIFO returns within 20 s (exit $rc)" test "$rc" -ne 124 -a "$rc" -ne 137

# ---- roots: relative, through a symlink, with dots; ancestors not listed -----

DB=$T/db-rel
(cd "$W" && FSI scan -q links) >/dev/null 2>"$T/err"
is "$?" 0 "scan of a relative root"
check_oracle "relative root" "$W/links"
FSI find --printf '%p\n' >"$T/list"
is "$(grep -cx "$W/links" "$T/list")" 1 "the root itself is listed"
is "$(grep -cxF -e "$W" -e "$T" -e / "$T/list")" 0 "the root's ancestors are not"
is "$(grep -cv "^$W/links" "$T/list")" 0 "nothing outside the root"
is "$(FSI find --printf '%y' --regex "^$W/links\$")" d "the root is type d"

DB=$T/db-sym
ln -s "$W/links/nest" "$T/symroot"
FSI scan -q "$T/symroot" >/dev/null 2>&1
is "$?" 0 "scan of a root given through a symlink"
check_oracle "symlinked root (stored as its realpath)" "$W/links/nest"
FSI find "$T/symroot" >/dev/null
is "$?" 1 "the symlink's own path is not stored"

DB=$T/db-dots
(cd "$T" && FSI scan -q "w/./links/../links/nest/a/" ) >/dev/null 2>&1
is "$?" 0 "scan of a root with ./ ../ and a trailing slash"
check_oracle "root with dot components (stored as its realpath)" "$W/links/nest/a"

# ---- overlapping roots --------------------------------------------------------

A=$W/links
DB=$T/db-ovl1
FSI scan -q "$A" "$A/nest" >/dev/null 2>&1
is "$?" 0 "scan of A and A/nest in one command"
FSI find -0 >"$T/ovl"
is "$(sort -z "$T/ovl" | uniq -zd | tr '\0' '\n' | cat -v)" "" "overlapping roots: each path once"
check_oracle "A + A/nest" "$A"

DB=$T/db-ovl2
FSI scan -q "$A/nest" >/dev/null 2>&1 && FSI scan -q "$A" >/dev/null 2>&1 &&
	FSI scan -q "$A/nest/a" "$A/nest/a" >/dev/null 2>&1
is "$?" 0 "scan A/nest, then A, then A/nest/a twice"
FSI find -0 >"$T/ovl"
is "$(sort -z "$T/ovl" | uniq -zd | tr '\0' '\n' | cat -v)" "" "overlapping roots over several scans: each path once"
check_oracle "A/nest then A" "$A"

DB=$T/db-ovl3
FSI scan -q "$A/nest" "$W/weird" >/dev/null 2>&1
is "$?" 0 "two disjoint roots in one command"
check_oracle "two disjoint roots" "$A/nest" "$W/weird"

# ---- --exclude ----------------------------------------------------------------

X=$T/ex
mkdir -p "$X"/keep/node_modules/pkg "$X"/keep/cache/sub "$X"/skipme/inner "$X"/other/skipme
for f in keep/a.txt keep/a.c keep/node_modules/pkg/index.js keep/cache/c1 \
	keep/cache/sub/c2 skipme/inner/f other/skipme/g other/b.txt other/b.log; do
	echo "$f" >"$X/$f"
done
DB=$T/db-ex
FSI scan -q --exclude '*.txt' --exclude node_modules --exclude "$X/skipme" \
	--exclude '*/cache/*' "$X" >/dev/null 2>&1
is "$?" 0 "scan with four --exclude"
find -P "$X" \( -name '*.txt' -o -name node_modules -o -path "$X/skipme" -o -path '*/cache/*' \) \
	-prune -o -print0 | sort -z >"$T/ex.exp"
index_paths >"$T/ex.got"
same_bytes "--exclude by basename and by path (with '/'), like find -prune" "$T/ex.got" "$T/ex.exp"
is "$(FSI find --count other/skipme)" 2 "a path exclude does not hit the same basename elsewhere"
is "$(FSI find --count --name cache)" 1 "'*/cache/*' keeps cache itself, drops what is below"

# ---- the summary line -----------------------------------------------------------

DB=$T/db-sum
FSI scan "$X" >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "$SUMMARY_RE" "the summary is a single line"
is "$(wc -l <"$T/err")" 1 "a clean scan prints only the summary"
dirs=$(sed -nE 's/^fsindex: scanned ([0-9]+) dirs.*/\1/p' "$T/err")
files=$(sed -nE 's/^.* dirs, ([0-9]+) files.*/\1/p' "$T/err")
ndirs=$(find -P "$X" -type d | wc -l)
nall=$(find -P "$X" | wc -l)
like "$dirs" "^($ndirs|$((ndirs - 1)))\$" "summary counts the directories ($ndirs with the root)"
like "$((${dirs:-0} + ${files:-0}))" "^($nall|$((nall - 1)))\$" "summary: dirs + files = every entry ($nall with the root)"
FSI scan -q "$X" >/dev/null 2>"$T/err"
ok "-q: no summary" test ! -s "$T/err"
FSI scan --quiet "$X" >/dev/null 2>"$T/err"
ok "--quiet: no summary" test ! -s "$T/err"
FSI scan -v "$X" >/dev/null 2>"$T/err"
is "$?" 0 "-v is accepted"

# ---- mtimes that printf must get right ---------------------------------------------

M=$T/mtimes
mkdir -p "$M"
touch -d '1969-12-31 23:59:58.25 UTC' "$M/before-epoch-fraction"
touch -d '@-1' "$M/minus-one"
touch -d '@0' "$M/epoch"
touch -d '1901-12-14 00:00:00 UTC' "$M/1901"
touch -d '2300-01-01 00:00:00.999999999 UTC' "$M/year-2300"
touch -d '2038-01-19 03:14:08 UTC' "$M/after-2038"
DB=$T/db-mt
FSI scan -q "$M" >/dev/null 2>&1
check_oracle "mtimes before 1970 and after 2038" "$M"

# ---- map growth -----------------------------------------------------------------------

DB=$T/db-grow
FSINDEX_DEBUG_MAPSIZE=65536 FSI scan -q "$W" >/dev/null 2>"$T/err"
is "$?" 0 "scan with a 64 KiB initial map (FSINDEX_DEBUG_MAPSIZE) grows the map"
diag_file "$T/err"
check_oracle "after map growth" "$W"
FSINDEX_DEBUG_MAPSIZE=65536 FSI scan -q "$W" >/dev/null 2>&1
is "$?" 0 "rescan with a small FSINDEX_DEBUG_MAPSIZE reopens the grown map"

# ---- a 10,000-deep chain ----------------------------------------------------------------

C=$T/chain
if try_mount_tmpfs "$C"; then
	:
else
	at_exit rm_chain "$C"
fi
if mk_chain "$C" 10000; then
	DB=$T/db-chain
	t0=$(now_ms)
	FSI scan -q "$C" >/dev/null 2>"$T/err"
	rc=$?
	t1=$(now_ms)
	is "$rc" 0 "scan of a 10,000-deep chain exits 0 ($((t1 - t0)) ms)"
	diag_file "$T/err"
	is "$(FSI find --count)" "$(find -P "$C" -printf . | wc -c)" "10,000-deep chain: every entry"
	is "$(FSI find --name leaf --printf '%p' | wc -c)" "$(find -P "$C" -name leaf -printf '%p' | wc -c)" \
		"10,000-deep chain: the deepest path has find's length"
	is "$(FSI find --printf '%y %s %T@ %f\n' | sort | md5sum)" \
		"$(find -P "$C" -printf '%y %s %T@ %f\n' | sort | md5sum)" \
		"10,000-deep chain: type, size, mtime and name of every entry"
	FSI find --name leaf >/dev/null
	is "$?" 0 "10,000-deep chain: find --name leaf exits 0"
else
	fail "build a 10,000-deep chain"
fi

# ---- roots on tmpfs, -x across a mount point, pseudo filesystems ---------------------------

P=$T/xdev
mkdir -p "$P/before" "$P/mnt"
echo a >"$P/before/a"
if try_mount_tmpfs "$P/mnt" size=4m; then
	mkdir -p "$P/mnt/inside/deeper"
	echo b >"$P/mnt/inside/deeper/b"
	echo c >"$P/mnt/c"
	DB=$T/db-x
	FSI scan -q -x "$P" >/dev/null 2>&1
	is "$?" 0 "scan -x of a tree with a mount point"
	find -P "$P" -xdev -print0 | sort -z >"$T/x.exp"
	index_paths >"$T/x.got"
	same_bytes "-x: like find -xdev (the mount point listed, not descended)" "$T/x.got" "$T/x.exp"
	is "$(FSI find --printf '%y\n' --regex "^$P/mnt\$")" d "-x: the mount point itself is listed"
	DB=$T/db-x2
	FSI scan -q --one-file-system "$P" >/dev/null 2>&1
	index_paths >"$T/x.got"
	same_bytes "--one-file-system is -x" "$T/x.got" "$T/x.exp"
	DB=$T/db-nox
	FSI scan -q "$P" >/dev/null 2>&1
	is "$?" 0 "scan without -x crosses into the tmpfs"
	check_oracle "without -x" "$P"
	DB=$T/db-tmpfsroot
	FSI scan -q "$P/mnt" >/dev/null 2>&1
	is "$?" 0 "scan of a root that is a tmpfs mount point"
	check_oracle "a tmpfs root (tmpfs holds real files: not pruned)" "$P/mnt"
else
	skip "-x across a mount point" "cannot mount a tmpfs (needs root)"
fi

Q=$T/pseudo
mkdir -p "$Q/proc" "$Q/sys" "$Q/dev" "$Q/shm"
echo q >"$Q/regular"
if is_root && mount -t proc proc "$Q/proc" 2>/dev/null; then
	_mounts+=("$Q/proc")
	# Each of these is pruned by type; tmpfs (same statfs magic as devtmpfs) is not.
	pruned=(proc)
	mount -t sysfs sysfs "$Q/sys" 2>/dev/null && _mounts+=("$Q/sys") && pruned+=(sys)
	mount -t devtmpfs devtmpfs "$Q/dev" 2>/dev/null && _mounts+=("$Q/dev") && pruned+=(dev)
	shm=
	if mount -t tmpfs -o size=1m tmpfs "$Q/shm" 2>/dev/null; then
		_mounts+=("$Q/shm")
		echo s >"$Q/shm/kept"
		shm=1
	fi
	DB=$T/db-pseudo
	FSI scan -q "$Q" >/dev/null 2>"$T/err"
	rc=$?
	like "$rc" '^[01]$' "scan of a tree with ${pruned[*]} mounted inside (exit $rc)"
	for m in "${pruned[@]}"; do
		is "$(FSI find --count "$Q/$m/")" 0 "$m is pruned by type: nothing below its mount point"
	done
	[ "${#pruned[@]}" = 3 ] || skip "sysfs and devtmpfs pruned" "cannot mount them here"
	if [ -n "$shm" ]; then
		is "$(FSI find --count "$Q/shm/kept")" 1 "a tmpfs beside them is indexed"
	else
		skip "tmpfs beside devtmpfs" "cannot mount a tmpfs here"
	fi
	is "$(FSI find --count "$Q/regular")" 1 "the rest is indexed"
else
	skip "pseudo filesystems pruned" "cannot mount proc here (needs root)"
fi

done_testing
