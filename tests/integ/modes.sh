#!/bin/bash
# SPDX-License-Identifier: MIT
#
# modes.sh - the worker count does not change the index: -j1, -j2, -j8 (and
# more workers than directories) give identical dumps, equal to find's.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FULL_FMT='%y %m %n %i %U %G %D %s %T@ %C@ %p\0'

M=$T/tree
mk_weird_tree "$M/weird" || bail "cannot build the weird tree"
mk_links_tree "$M/links" || bail "cannot build the links tree"
mk_deep_tree "$M/deep" || bail "cannot build the deep tree"
mk_bulk "$M/bulk" 60 40 || bail "cannot build the bulk tree"
# Uneven work: one long narrow branch next to wide flat ones.
mkdir -p "$M/narrow/$(printf 'n/%.0s' $(seq 60))"
for i in $(seq 20); do mkdir -p "$M/wide/w$i/x/y" && : >"$M/wide/w$i/x/y/f"; done

oracle_meta "$M" >"$T/oracle.meta"
find -P "$M" -printf "$FULL_FMT" | sort -z >"$T/oracle.full"

for j in 1 2 8 32; do
	DB=$T/db-j$j
	FSI scan -q -j "$j" "$M" >/dev/null 2>"$T/err"
	rc=$?
	is "$rc" 0 "scan -j $j exits 0"
	diag_file "$T/err"
	index_meta >"$T/meta.j$j"
	FSI find --printf "$FULL_FMT" | sort -z >"$T/full.j$j"
	FSI find -0 >"$T/order.j$j"
done

same_bytes "-j1: type, size, mtime as find" "$T/meta.j1" "$T/oracle.meta"
same_bytes "-j1: mode, links, inode, owner, device, ctime as find" "$T/full.j1" "$T/oracle.full"
for j in 2 8 32; do
	same_bytes "-j$j dump is identical to -j1" "$T/meta.j$j" "$T/meta.j1"
	same_bytes "-j$j full dump is identical to -j1" "$T/full.j$j" "$T/full.j1"
	ok "-j$j: find prints the same paths in the same order as -j1" cmp "$T/order.j$j" "$T/order.j1"
done

DB=$T/db-jobs
FSI scan -q --jobs 3 "$M" >/dev/null 2>&1
is "$?" 0 "--jobs 3 (long form) exits 0"
index_meta >"$T/meta.jobs"
same_bytes "--jobs 3 dump is identical to -j1" "$T/meta.jobs" "$T/meta.j1"

DB=$T/db-default
FSI scan -q "$M" >/dev/null 2>&1
is "$?" 0 "default worker count exits 0"
index_meta >"$T/meta.default"
same_bytes "default worker count dump is identical to -j1" "$T/meta.default" "$T/meta.j1"

# Rescanning one index with a different worker count changes nothing.
DB=$T/db-j1
FSI scan -q -j 8 "$M" >/dev/null 2>&1
is "$?" 0 "rescan of the -j1 index with -j8 exits 0"
index_meta >"$T/meta.re"
same_bytes "rescan with -j8 leaves the -j1 dump" "$T/meta.re" "$T/meta.j1"

done_testing
