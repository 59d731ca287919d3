#!/bin/bash
# SPDX-License-Identifier: MIT
#
# du.sh - `fsindex du` answers from the index what du(1) answers from the
# disk: GNU du -B1 (and --apparent-size, -d N, -h, -l) on the tree just
# scanned is the oracle, line for line (NUL-terminated, sorted: du lists in
# readdir order, fsindex in name order).  Trees with sparse files, holes,
# hard links within and across directories, empty directories, odd names
# (newlines, bytes that are not UTF-8, 255-byte names).

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

command -v du >/dev/null || skip_all "no du"

R=$T/tree
mk_weird_tree "$R/weird" || bail "cannot build the weird tree"
mk_links_tree "$R/links" || bail "cannot build the links tree"
(
	cd "$R" || exit 1
	mkdir -p empty/a/b/c sparse data/x/y hl/one hl/two/deeper || exit 1
	truncate -s 1G sparse/hole-1g
	# Data, a hole, data: fewer blocks than the size says.
	printf 'head' >sparse/holes && dd if=/dev/zero of=sparse/holes bs=4096 seek=100 count=3 \
		conv=notrunc status=none
	for i in $(seq 1 30); do head -c $((i * 997)) /dev/urandom >"data/x/f$i"; done
	for i in $(seq 1 20); do head -c $((i * 4096)) /dev/zero >"data/x/y/z$i"; done
	# Hard links across directories: each file counts once in the totals.
	head -c 50000 /dev/urandom >hl/one/big
	ln hl/one/big hl/two/big-again
	ln hl/one/big hl/two/deeper/big-thrice
	ln hl/one/big top-link
	: >hl/two/empty
	ln hl/two/empty hl/one/empty-too
) || bail "cannot build the tree"
scan_ok "scan of the tree" "$R" || bail "cannot scan"

# du's lines and ours, NUL-terminated and sorted.
sorted() { tr '\n\0' '\001\n' | sort | tr '\001\n' '\n\0'; }
ours() { FSI du -0 "$@" | sorted; }
theirs() { du -0 -B1 "$@" | sorted; }

# ---- whole trees -------------------------------------------------------------

cd "$T" || bail "cd"
ours tree >"$T/got" && theirs tree >"$T/exp"
same_bytes "du: the same total as du -B1 (hard links once)" \
	<(tr '\0' '\n' <"$T/got" | grep -ax $'[0-9]*\ttree') \
	<(tr '\0' '\n' <"$T/exp" | grep -ax $'[0-9]*\ttree')
ours -l tree >"$T/got" && theirs -l tree >"$T/exp"
same_bytes "du -l: every directory as du -l -B1" "$T/got" "$T/exp"
ours --apparent-size -l tree >"$T/got" && theirs --apparent-size -l tree >"$T/exp"
same_bytes "du --apparent-size -l: every directory as du --apparent-size -l -B1" \
	"$T/got" "$T/exp"
# Without -l, which directory counts a file linked from several depends on
# the order it is met in; every directory without such a file agrees.
nolinks() { tr '\0' '\n' | grep -av -e '^[0-9]*	tree$' -e '	tree/hl' -e '	tree/links$'; }
ours tree | nolinks >"$T/got" && theirs tree | nolinks >"$T/exp"
same_bytes "du: every directory holding no multiply-linked file as du -B1" "$T/got" "$T/exp"
ours --apparent-size tree | nolinks >"$T/got" && theirs --apparent-size tree | nolinks >"$T/exp"
same_bytes "du --apparent-size: the same, as du --apparent-size -B1" "$T/got" "$T/exp"
for sub in tree/hl tree/links tree/weird tree/sparse tree/empty; do
	ours "$sub" >"$T/got" && theirs "$sub" >"$T/exp"
	same_bytes "du $sub: as du -B1 (links met in one directory only)" "$T/got" "$T/exp"
done
ours --apparent-size tree/hl >"$T/got" && theirs --apparent-size tree/hl >"$T/exp"
same_bytes "du --apparent-size tree/hl: as du" "$T/got" "$T/exp"

# Several paths share the count of links, as du's do.
ours tree/hl/one tree/hl/two >"$T/got" && theirs tree/hl/one tree/hl/two >"$T/exp"
same_bytes "two paths: a file linked from both counts in the first only" "$T/got" "$T/exp"

# ---- depth -------------------------------------------------------------------

for d in 0 1 2 3; do
	ours --depth "$d" tree >"$T/got" && theirs -d "$d" -l tree >/dev/null
	ours -l --depth "$d" tree >"$T/got" && theirs -l -d "$d" tree >"$T/exp"
	same_bytes "--depth $d: as du -d $d" "$T/got" "$T/exp"
done
is "$(FSI du -d 0 tree tree/data | tr '\t' ' ')" "$(du -B1 -d 0 tree tree/data | tr '\t' ' ')" \
	"--depth 0: only the totals of the given paths, in their order"
is "$(FSI du -d0 "$R" | cut -f2)" "$R" "an absolute path is printed as given"
is "$(cd "$R/data" && FSI du -d0 | cut -f2)" "." "no PATH: the current directory, as ."
is "$(FSI du tree/data/x/f7 | tr '\t' ' ')" "$(du -B1 tree/data/x/f7 | tr '\t' ' ')" \
	"a file as PATH: its own size"
is "$(FSI du tree/hl/one/big tree/top-link | tr '\t' ' ')" \
	"$(du -B1 tree/hl/one/big tree/top-link | tr '\t' ' ')" \
	"two links to one file as PATHs: the second is not listed, as with du"

# ---- output forms ------------------------------------------------------------

# -h against du -h on files of sizes around each rounding step.
mkdir -p "$T/h"
for s in 0 1 512 1023 1024 1025 1536 1537 10239 10240 10241 102400 1048063 1048575 \
	1048576 1048577 10485760 1073741823 1073741824 5368709120; do
	truncate -s "$s" "$T/h/s$s"
done
scan_ok "scan of the -h files" "$T/h"
bad=0
for s in 0 1 512 1023 1024 1025 1536 1537 10239 10240 10241 102400 1048063 1048575 \
	1048576 1048577 10485760 1073741823 1073741824 5368709120; do
	a=$(FSI du -h --apparent-size "$T/h/s$s") b=$(du -h --apparent-size "$T/h/s$s")
	[ "$a" = "$b" ] || { bad=1; diag "size $s: ours '$a', du's '$b'"; }
done
is "$bad" 0 "-h writes every size as du -h does"
is "$(FSI du -h -d0 tree | cut -f1)" "$(du -h -d0 tree | cut -f1)" "-h on the tree's total"

FSI du -0 --sort -l tree | tr '\n\0' '\001\n' | cut -f1 >"$T/sorted"
sort -n -r "$T/sorted" >"$T/sorted.exp"
same_bytes "--sort: largest first" "$T/sorted" "$T/sorted.exp"
is "$(FSI du --sort -l tree | wc -l)" "$(FSI du -l tree | wc -l)" "--sort lists every directory"

FSI du --json -d1 tree/data >"$T/json"
is "$(head -c 1 "$T/json")$(grep -c '"depth":1}$' "$T/json")" "{1" \
	"--json: one object per line, depth 1 for tree/data/x"
like "$(tail -1 "$T/json")" \
	"^\\{\"path\":\"tree/data\",\"size\":$(du -s -B1 tree/data | cut -f1),\"depth\":0\\}\$" \
	"--json: the path's total last, its size in bytes"
FSI du --json weird >/dev/null 2>&1
(cd tree && FSI du --json weird) >"$T/json" 2>&1
is "$?" 0 "--json on names that are not UTF-8 exits 0"

# ---- errors ------------------------------------------------------------------

run_fsi "$T/out" "$T/err" du /etc tree/data
is "$rc" 1 "a PATH outside the index: exit 1"
like "$(cat "$T/err")" "'/etc' is not in the index" "... naming it"
like "$(cat "$T/out")" $'\ttree/data$' "... and the other PATHs are still counted"
run_fsi "$T/out" "$T/err" du --depth x tree
is "$rc" 2 "a bad --depth: exit 2"
run_fsi "$T/out" "$T/err" du -h --json tree
is "$rc" 2 "-h with --json: exit 2"
run_fsi "$T/out" "$T/err" du --help
is "$rc" 0 "--help exits 0"
like "$(cat "$T/out")" "--apparent-size" "... and lists the options"
FSI du -d0 --db "$T/nonexistent" tree >/dev/null 2>"$T/err"
is "$?" 2 "no index: exit 2"

# A change on disk is not seen until a rescan (du reads the index only).
head -c 100000 /dev/urandom >"$R/data/new-file"
isnt_same=$(FSI du -d0 tree/data | cut -f1)
is "$isnt_same" "$(($(du -s -B1 tree/data | cut -f1) - $(du -B1 "$R/data/new-file" | cut -f1)))" \
	"a file made after the scan is not counted"
scan_ok "rescan" "$R"
is "$(FSI du -d0 tree/data | cut -f1)" "$(du -s -B1 tree/data | cut -f1)" "after a rescan it is"

done_testing
