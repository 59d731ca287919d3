#!/bin/bash
# SPDX-License-Identifier: MIT
#
# enospc.sh - an index on a full filesystem: the scan that cannot commit
# fails with a clear message naming the index, the index keeps its last
# committed state and answers queries, and once there is room again a rescan
# completes it.  The index lives on a 2 MiB tmpfs; the tree, elsewhere.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

small=$T/small
try_mount_tmpfs "$small" size=2m || skip_all "needs root to mount a small tmpfs"
DB=$small/idx
R=$T/tree

# add_files FIRST LAST: directories dFIRST..dLAST of 100 files each.
add_files() {
	local d f
	for d in $(seq "$1" "$2"); do
		mkdir -p "$R/d$d" || return 1
		for f in $(seq 1 100); do
			: >"$R/d$d/a-file-name-long-enough-to-fill-pages-$f" || return 1
		done
	done
}

add_files 1 20 || bail "cannot build the tree"
scan_ok "first scan of 2,000 files onto the small filesystem" -q "$R"
check_oracle "first scan" "$R"
index_paths >"$T/old.paths"

# Fill the filesystem, then grow the tree until a scan cannot commit.
dd if=/dev/zero of="$small/filler" bs=4k 2>/dev/null
is "$(df --output=avail -k "$small" | tail -n 1 | tr -d ' ')" 0 "the index's filesystem is full"
round=0 rc=0
while [ "$rc" -eq 0 ] && [ "$round" -lt 5 ]; do
	add_files $((21 + round * 20)) $((40 + round * 20)) || bail "cannot grow the tree"
	run_fsi "$T/out" "$T/err" scan -q "$R"
	round=$((round + 1))
	[ "$rc" -eq 0 ] && index_paths >"$T/old.paths" # committed after all: the new last state
done
is "$rc" 2 "a scan that cannot commit exits 2 (round $round)"
like "$(cat "$T/err")" "scan failed: cannot write index '$DB': No space left on device" \
	"... with a message naming the index and the reason" || diag_file "$T/err"

# The index opens and holds its last committed state: at least what the last
# good scan stored, nothing that is not on disk, every entry's parent too.
FSI find -0 >"$T/got.unsorted"
is "$?" 0 "find on the index still works"
sort -z <"$T/got.unsorted" >"$T/got.paths"
oracle_paths "$R" >"$T/new.paths"
missing=$(comm -z -23 "$T/old.paths" "$T/got.paths" | tr -cd '\0' | wc -c)
extra=$(comm -z -23 "$T/got.paths" "$T/new.paths" | tr -cd '\0' | wc -c)
is "$missing/$extra" 0/0 \
	"it lists what was committed: everything of the last good scan, nothing not on disk"
orphans=$(tr '\0' '\n' <"$T/got.paths" | awk -v r="$R" '
	{ seen[$0] = 1; p = $0; sub("/[^/]*$", "", p); if ($0 != r) parent[$0] = p }
	END { n = 0; for (c in parent) if (!(parent[c] in seen)) n++; print n }')
is "$orphans" 0 "no entry is listed without its directory"
is "$(FSI find --count)" "$(count0 "$T/got.paths")" "find --count agrees"

# With room again, a rescan completes the index.
rm -f -- "$small/filler"
scan_ok "after freeing space, a rescan exits 0" -q "$R"
check_oracle "after the rescan" "$R"
done_testing
