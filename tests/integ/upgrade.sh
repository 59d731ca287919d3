#!/bin/bash
# SPDX-License-Identifier: MIT
#
# upgrade.sh - an index written by an older release opens, answers and
# rescans.  tests/fixtures/schema1/data.mdb was written by fsindex at commit
# 89f4e2f (schema 1, see tests/fixtures/make-schema1.sh) over the tree that
# tests/fixtures/schema1-tree.sh builds; the tree is rebuilt at the same
# absolute path, so find(1) over it is the oracle for what the old index holds.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99
. "$top_srcdir/tests/fixtures/schema1-tree.sh"

fixture=$top_srcdir/tests/fixtures/schema1/data.mdb
[ -f "$fixture" ] || bail "missing $fixture"

# The tree lives at a fixed path: one test run at a time may own it.
exec 9>"$FIXTURE_ROOT.lock"
flock 9 || bail "cannot lock $FIXTURE_ROOT.lock"
at_exit "rm -rf -- '$FIXTURE_ROOT'"
fixture_tree

mkdir -p "$DB"
cp -- "$fixture" "$DB/data.mdb"
chmod 0600 "$DB/data.mdb"
before=$(sha256sum <"$fixture")

# ---- the old index answers as it is ------------------------------------------

# What the old scan indexed: everything but the excluded file.
# NUL-separated lists never hold a newline inside a record here except the
# one file named "new\nline"; keep it intact by mapping through \001.
exp_paths() { oracle_paths "$FIXTURE_ROOT" | tr '\n\0' '\001\n' | grep -av '\.skip$' | tr '\001\n' '\n\0'; }
exp_meta() { oracle_meta "$FIXTURE_ROOT" | tr '\n\0' '\001\n' | grep -av '\.skip$' | tr '\001\n' '\n\0'; }

check_fixture() {
	exp_paths >"$T/exp.paths"
	index_paths >"$T/got.paths"
	same_bytes "$1: paths" "$T/got.paths" "$T/exp.paths"
	exp_meta >"$T/exp.meta"
	index_meta >"$T/got.meta"
	same_bytes "$1: type, size, mtime" "$T/got.meta" "$T/exp.meta"
	xxh_oracle "$FIXTURE_ROOT" | tr '\n\0' '\001\n' | grep -av '\.skip$' |
		tr '\001\n' '\n\0' >"$T/exp.hashes"
	index_hashes --type f >"$T/got.hashes"
	same_bytes "$1: every stored hash = xxh128sum" "$T/got.hashes" "$T/exp.hashes"
}

check_fixture "the schema-1 index, read as it is"
FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find docs >"$T/ni.out" 2>"$T/ni.err"
is "$(grep -c 'name index' "$T/ni.err")" 0 "a find on the old index is a full pass (it has no name index)"
ha=$(xxh128sum <"$FIXTURE_ROOT/docs/a.txt")
printf '%s\n' "$FIXTURE_ROOT/docs/a.txt" "$FIXTURE_ROOT/docs/deep/er/copy-of-a.txt" >"$T/fh.exp"
FSI find --hash "${ha%% *}" >"$T/fh.got"
same_bytes "find --hash on the old index" "$T/fh.got" "$T/fh.exp"
is "$(FSI find --count --name 'L*')" 1 "the 255-byte name is there"

# The value of meta "features" (key hex 6665617475726573) as mdb_dump prints
# it, or nothing when the index has no such key.
features() { mdb_dump -s meta "$DB" | awk 'f { print substr($0, 2); exit } $0 == " 6665617475726573" { f = 1 }'; }
is "$(sha256sum <"$DB/data.mdb")" "$before" "reading the old index wrote nothing to it"
is "$(features)" "" "the old index has no features (it predates them)"
# The named databases, one a line.
dbs() { mdb_stat -a "$DB" | sed -n 's/^Status of //p' | grep -vx 'Main DB' | sort | tr '\n' ' '; }
is "$(dbs)" "child hash meta node size " "the old index has its \`size\` database"

# ---- an upgrade killed at any point leaves a readable index -------------------

# The upgrade copies `node` and then `child` compact in transactions of its
# own, then drops both with the features in one more: kill -9 it before the
# first copy transaction (FSINDEX_DEBUG_UPGRADE_CHUNK=3 records each), after
# the first, once `node` is copied, and before the last one; each time, the
# old index answers as before and is still old.
nodes=$(mdb_stat -s node "$DB" | sed -n 's/^ *Entries: //p')
children=$(mdb_stat -s child "$DB" | sed -n 's/^ *Entries: //p')
half=$(((nodes + 2) / 3))
steps=$((half + (children + 2) / 3))
C=$T/crash
mkdir -p "$C"
bad=
for k in 0 1 "$half" $((half + 1)) "$steps"; do
	cp -- "$fixture" "$C/data.mdb" && chmod 0600 "$C/data.mdb" && rm -f -- "$C/lock.mdb"
	# A subshell, so bash's "Killed" does not land in the log.
	(FSINDEX_DEBUG_UPGRADE_CHUNK=3 FSINDEX_DEBUG_UPGRADE_KILL=$k \
		timeout 60 "$FSINDEX" scan -q --db "$C" "$FIXTURE_ROOT"; echo $? >"$T/rc") >/dev/null 2>&1
	got=$(cat "$T/rc")
	[ "$got" = 137 ] || bad="$bad k=$k:exit-$got"
	exp_paths >"$T/exp.paths"
	"$FSINDEX" find --db "$C" -0 >"$T/got.paths" 2>/dev/null || bad="$bad k=$k:find"
	cmp -s "$T/got.paths" "$T/exp.paths" || bad="$bad k=$k:paths"
	[ -z "$(mdb_dump -s meta "$C" | grep -x ' 6665617475726573')" ] || bad="$bad k=$k:features"
done
is "${bad:-none}" none "killed after 0, 1, $half, $((half + 1)) and all $steps copy transactions: still the old index, whole"
FSINDEX_DEBUG_UPGRADE_CHUNK=3 timeout 60 "$FSINDEX" scan -q --db "$C" "$FIXTURE_ROOT" >"$T/out" 2>&1
is "$?" 0 "the next scan upgrades it (chunks of 3)" || diag_file "$T/out"
is "$(mdb_stat -a "$C" | sed -n 's/^Status of //p' | grep -vx 'Main DB' | sort | tr '\n' ' ')" \
	"cchild cnode gram hash meta " "... into compact records, \`node\` and \`child\` dropped, the name index built"
"$FSINDEX" find --db "$C" -0 >"$T/got.paths"
same_bytes "... holding every path" "$T/got.paths" "$T/exp.paths"

# ---- and rescans, keeping what its roots remembered --------------------------

run_fsi "$T/out" "$T/err" scan -q "$FIXTURE_ROOT"
is "$rc" 0 "rescan of the old index's root exits 0" || diag_file "$T/err"
check_fixture "after a rescan (excludes and --hash remembered)"
is "$(features)" 000000010000000100000000 "the rescan upgraded it in place: it records its features (compact records, ro_compat NAMES)"
is "$(dbs)" "cchild cnode gram hash meta " "... built the name index \`gram\`, rewrote \`node\` and \`child\` compact into \`cnode\` and \`cchild\` and dropped \`size\`, which nothing reads"
# The name index built by the upgrade answers as the full pass does.
for p in docs '*.bin' x10000 'new?line' LLLLLLLL DOCS; do
	for o in "" -i --name; do
		FSINDEX_DEBUG_NAMEINDEX=off FSI find $o -- "$p" >"$T/np.full"
		FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find $o -- "$p" >"$T/np.idx" 2>"$T/np.err"
		grep -q 'name index:' "$T/np.err" && cmp -s "$T/np.full" "$T/np.idx" ||
			{ echo "$p $o" >>"$T/np.bad"; diag_file "$T/np.err"; }
	done
done
is "$(cat "$T/np.bad" 2>/dev/null)" "" "after the upgrade, the name index answers 18 finds as the full pass does"
printf 'new\n' >"$FIXTURE_ROOT/docs/added"
rm -- "$FIXTURE_ROOT/docs/a.txt"
run_fsi "$T/out" "$T/err" scan -q "$FIXTURE_ROOT"
is "$rc" 0 "rescan after changes exits 0" || diag_file "$T/err"
check_fixture "after changes and a rescan"
is "$(FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find added 2>&1)" \
	"fsindex: name index: 1 candidates for 'added'"$'\n'"$FIXTURE_ROOT/docs/added" \
	"a name added by a later rescan is in the name index"
is "$(FSI find a.txt)" "$FIXTURE_ROOT/docs/deep/er/copy-of-a.txt" "... and a removed one is not"
FSI dups -q "$FIXTURE_ROOT" >"$T/dups"
is "$?" 0 "dups over the upgraded index finds duplicates"
printf '%s\n' "$FIXTURE_ROOT/media/x10000-copy.bin" "$FIXTURE_ROOT/media/x10000.bin" >"$T/dups.exp"
grep -a x10000 "$T/dups" | sort >"$T/dups.got"
same_bytes "dups groups the two 10,000-byte copies" "$T/dups.got" "$T/dups.exp"

# Blocks: the fixed records had none; the rescans stored them (du needs them).
is "$(FSI du -d0 "$FIXTURE_ROOT" | cut -f1)" \
	"$(du -s -B1 --exclude='*.skip' "$FIXTURE_ROOT" | cut -f1)" \
	"du over the upgraded, rescanned index equals du -B1 (the excluded file left out)"

is "$(sha256sum <"$fixture")" "$before" "the fixture in the source tree is untouched"
done_testing
