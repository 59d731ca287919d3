#!/bin/bash
# SPDX-License-Identifier: MIT
#
# dupsidx.sh - `dups --indexed`: duplicate groups from the index as it is.
# A tree with known groups (made here; xxh128sum is the oracle, cmp checks
# it), scanned with --hash: --indexed gives the oracle's groups and plain
# dups' output.  A file rewritten after the scan (same size) is left out,
# not grouped by its old hash; a scan without --hash still gives the groups
# (hashed on the fly) and writes nothing to the index; a PATH the index does
# not hold is an error (exit 2); plain dups --sync is a usage error.  With
# fsindexd holding the index (a scan is refused), --indexed still answers,
# and --sync sees a duplicate made just before.  --link acts on a group.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"
command -v xxh128sum >/dev/null || skip_all "no xxh128sum"

R=$(realpath -- "$T")/tree
mkdir -p "$R/a/b" "$R/c" "$R/d"
# Groups of 2, 3 and 4 files, and
# files of a shared size that differ in their last or middle bytes.
head -c 10000 /dev/urandom >"$R/a/big"
cp "$R/a/big" "$R/c/big2"
for i in 1 2 3; do echo "three copies" >"$R/d/t$i"; done
for i in 1 2 3 4; do printf 'twelve bytes' >"$R/a/b/q$i"; done
printf 'twelve byteZ' >"$R/c/q-other"
head -c 9000 /dev/urandom >"$R/c/m"
{ head -c 4500 "$R/c/m"; printf X; tail -c 4499 "$R/c/m"; } >"$R/c/m-mid"
echo unique >"$R/u"
: >"$R/e1"
: >"$R/e2"
# Older than the scans: a file modified within the scan's second is racy,
# its stored hash not trusted (read again), and this test wants them trusted.
find "$R" -exec touch -h -d '-1 hour' {} +

# groups: dups' plain output as one sorted line of sorted paths per group.
groups() {
	awk 'NF == 0 { if (g != "") print g; g = ""; next }
	     { g = g == "" ? $0 : g " " $0 }
	     END { if (g != "") print g }' | while read -r line; do
		tr ' ' '\n' <<<"$line" | sort | paste -sd' '
	done | sort
}
# oracle ROOT: the same, grouping non-empty files by xxh128sum.
oracle() {
	find "$1" -type f -size +0 -print0 | xargs -0 xxh128sum | sort |
		awk '{ if ($1 == h) g = g " " $2; else { if (n > 1) print g; g = $2; n = 0 }
		       h = $1; n++ } END { if (n > 1) print g }' | while read -r line; do
		tr ' ' '\n' <<<"$line" | sort | paste -sd' '
	done | sort
}

oracle "$R" >"$T/oracle"
is "$(wc -l <"$T/oracle")" 3 "the oracle finds the 3 groups the tree was made with"
# cmp confirms each of the oracle's groups byte for byte.
bad=0
while read -r first rest; do
	for f in $rest; do cmp -s "$first" "$f" || bad=$((bad + 1)); done
done <"$T/oracle"
is "$bad" 0 "cmp: every file of each oracle group equals its first"

# ---- without stored hashes: hashed on the fly, nothing written ----------------------

scan_ok "scan without --hash" "$R"
run_fsi "$T/out" "$T/err" dups --indexed "$R"
is "$rc" 0 "dups --indexed over an unhashed index exits 0"
groups <"$T/out" >"$T/got"
ok "dups --indexed, no stored hashes: the oracle's groups" cmp -s "$T/got" "$T/oracle"
[ -s "$T/got" ] && cmp -s "$T/got" "$T/oracle" || { diag_file "$T/got"; diag_file "$T/err"; }
is "$(index_hashes "$R" | tr '\0' '\n' | grep -c '^- ')" \
	"$(find "$R" -type f | wc -l)" "dups --indexed wrote no hash to the index"

# ---- with stored hashes: equal to plain dups ---------------------------------------

scan_ok "scan --hash" --hash "$R"
run_fsi "$T/out" "$T/err" dups --indexed "$R"
is "$rc" 0 "dups --indexed exits 0"
groups <"$T/out" >"$T/got"
ok "dups --indexed: the oracle's groups" cmp -s "$T/got" "$T/oracle"
like "$(cat "$T/err")" "no content read" "dups --indexed over stored hashes reads no content"
run_fsi "$T/plain" "$T/err" dups "$R"
ok "dups --indexed prints what plain dups prints" cmp -s "$T/out" "$T/plain"
run_fsi "$T/out" "$T/err" dups --indexed --json --summary "$R"
run_fsi "$T/plain" "$T/err" dups --json --summary "$R"
ok "--json --summary: the same output as plain dups" cmp -s "$T/out" "$T/plain"
run_fsi "$T/out" "$T/err" dups --indexed "$R/d" "$R/a"
groups <"$T/out" >"$T/got"
grep -v "$R/c/" "$T/oracle" | grep -E "$R/(a|d)/.* " >"$T/want"
ok "PATHs below a root: only the files below them" cmp -s "$T/got" "$T/want"

# ---- a record the disk no longer matches ------------------------------------------

printf 'twelve byteQ' >"$R/a/b/q4"
touch -d '2020-01-01' "$R/a/b/q4"
run_fsi "$T/out" "$T/err" dups --indexed "$R"
unlike "$(cat "$T/out")" "q4" "a file rewritten after the scan (same size) is not grouped by its old hash"
like "$(cat "$T/err")" "left out '$R/a/b/q4': changed since it was indexed" \
	"...and is named as left out"
printf 'twelve bytes' >"$R/a/b/q4"
touch -d '-1 hour' "$R/a/b/q4"
scan_ok "rescan --hash" --hash "$R"

# ---- errors ------------------------------------------------------------------------

mkdir -p "$T/elsewhere"
run_fsi "$T/out" "$T/err" dups --indexed "$T/elsewhere"
is "$rc" 2 "a PATH below no indexed root: exit 2"
like "$(cat "$T/err")" "'$(realpath "$T/elsewhere")' is not in the index" "...naming the PATH"
run_fsi "$T/out" "$T/err" dups --sync "$R"
is "$rc" 2 "plain dups --sync: exit 2"
like "$(cat "$T/err")" "--sync needs --indexed" "...saying it needs --indexed"
run_fsi "$T/out" "$T/err" dups --indexed --no-index "$R"
is "$rc" 2 "--indexed with --no-index: exit 2"

# ---- while fsindexd holds the index ----------------------------------------------

mkdir -p "$T/run"
export XDG_RUNTIME_DIR=$T/run
unset NOTIFY_SOCKET
printf '[index]\nroots = %s\n' "$R" >"$T/d.conf"
"$FSINDEXD" --user --config "$T/d.conf" --db "$DB" 2>"$T/d.err" &
dpid=$!
track_pid $dpid
n=400
until grep -q "scanned '$R'" "$T/d.err" 2>/dev/null || [ $n -eq 0 ]; do
	sleep 0.05
	n=$((n - 1))
done
run_fsi "$T/out" "$T/err" scan "$R"
is "$rc" 0 "with fsindexd running a scan is handed to it (served.sh)"
run_fsi "$T/out" "$T/err" dups --indexed "$R"
is "$rc" 0 "dups --indexed while fsindexd runs: exit 0"
groups <"$T/out" >"$T/got"
ok "...the oracle's groups" cmp -s "$T/got" "$T/oracle"
cp "$R/u" "$R/c/u-copy"
run_fsi "$T/out" "$T/err" dups --indexed --sync "$R"
is "$rc" 0 "dups --indexed --sync exits 0"
oracle "$R" >"$T/oracle2"
groups <"$T/out" >"$T/got"
ok "--sync: a copy made just before is in a group" cmp -s "$T/got" "$T/oracle2"
cmp -s "$T/got" "$T/oracle2" || { diag_file "$T/got"; diag_file "$T/err"; }
kill -TERM "$dpid" 2>/dev/null
wait_timeout "$dpid" 10

# ---- an action: dupact.c verifies each file before it changes it -----------------

run_fsi "$T/out" "$T/err" dups --indexed --link "$R/d"
is "$rc" 0 "dups --indexed --link exits 0"
is "$(stat -c %i "$R"/d/t* | sort -u | wc -l)" 1 "--link: the three copies are one inode now"

done_testing
