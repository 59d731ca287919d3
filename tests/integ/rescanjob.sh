#!/bin/bash
# SPDX-License-Identifier: MIT
#
# rescanjob.sh - `fsindex rescan DIR`: a known directory is brought up to
# date with its root's options (excludes, hashing), one level or a subtree,
# and no root is recorded; what is outside DIR stays as it was.  find(1) over
# the tree is the oracle, with the parts the rescan must not touch taken out.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

command -v mdb_dump >/dev/null || bail "mdb_dump not found (Debian package lmdb-utils)"
command -v xxh128sum >/dev/null || bail "xxh128sum not found (Debian package xxhash)"

R=$T/tree
weird="we"$'\n'"ird -x"
mkdir -p "$R/a/b/c" "$R/d" "$R/$weird" "$T/outside"
for f in a/f1 a/f2 a/b/g1 a/b/c/h1 d/f1 d/f2 "$weird/w1"; do
	printf 'content of %s\n' "$f" >"$R/$f"
done
# Old enough not to be "racy" (hashed again for being modified near the scan).
find "$R" -exec touch -h -d '2 hours ago' {} +

# Roots recorded in the index: "root" + id keys of the meta database.
nroots() {
	mdb_dump -s meta "$DB" | grep -c '^ 726f6f74'
}

# under DIR: keep the NUL-separated records (paths, or META_FMT lines) at and below DIR.
under() {
	P=$1 perl -0 -ne 'my $p = (split(/ /, $_, 4))[3] // ""; $p = $_ if $ENV{FIELD};
		chop(my $q = $p); print if $q eq $ENV{P} || index($q, "$ENV{P}/") == 0'
}

# sub_paths DIR: the index's paths at and below DIR, sorted, NUL-separated.
sub_paths() {
	FSI find -0 | FIELD=1 under "$1" | sort -z
}

# in_index PATH: is PATH listed by find?  (Not grep -F: a newline in PATH would split it.)
in_index() {
	FSI find -0 | P=$1 perl -0 -ne 'chop; $f = 1 if $_ eq $ENV{P}; END { exit !$f }'
}

scan_ok "scan --hash --exclude '*.tmp' of the tree" --hash --exclude '*.tmp' "$R"
roots_before=$(nroots)
is "$roots_before" 1 "one root recorded"

# ---- one level ---------------------------------------------------------------

echo new >"$R/a/new1"
echo new2 >"$R/a/b/new2"
echo tmp >"$R/a/x.tmp"
mkdir -p "$R/a/newdir/deeper"
echo deep >"$R/a/newdir/deeper/deep"
rm "$R/d/f1"
run_fsi "$T/out" "$T/err" rescan --one-level "$R/a"
is "$rc" 0 "rescan --one-level exits 0"
ok "a new file of the directory is indexed" in_index "$R/a/new1"
ok "a new subdirectory is walked whole" in_index "$R/a/newdir/deeper/deep"
nok "the root's --exclude applies" in_index "$R/a/x.tmp"
nok "a known subdirectory is not descended into" in_index "$R/a/b/new2"
ok "outside the directory nothing changes (a removed file stays listed)" in_index "$R/d/f1"
is "$(nroots)" "$roots_before" "no root is recorded"
sum=$(xxh128sum "$R/a/new1" | cut -d' ' -f1)
is "$(FSI find --hash "$sum")" "$R/a/new1" "the root hashes: the new file is found by its hash"

# ---- a subtree ---------------------------------------------------------------

run_fsi "$T/out" "$T/err" rescan "$R/a"
is "$rc" 0 "rescan of a subtree exits 0"
find -P "$R/a" -name '*.tmp' -prune -o -print0 | sort -z >"$T/exp"
sub_paths "$R/a" >"$T/got"
same_bytes "the subtree equals find over it (excluded names left out)" "$T/got" "$T/exp"
find -P "$R/a" -name '*.tmp' -prune -o -printf "$META_FMT" | sort -z >"$T/exp"
FSI find --printf "$META_FMT" | under "$R/a" | sort -z >"$T/got"
same_bytes "... type, size and mtime too" "$T/got" "$T/exp"
ok "a sibling is still as it was" in_index "$R/d/f1"
sum=$(xxh128sum "$R/a/b/new2" | cut -d' ' -f1)
is "$(FSI find --hash "$sum")" "$R/a/b/new2" "a file found deeper is hashed"

# ---- directories that are no longer what the index knows ---------------------

rm -rf "$R/a/b"
run_fsi "$T/out" "$T/err" rescan "$R/a/b"
is "$rc" 0 "rescan of a removed directory exits 0"
nok "... its removal is taken in from the parent" in_index "$R/a/b"
nok "... with everything below it" in_index "$R/a/b/c/h1"
ok "... and the parent's other entries stay" in_index "$R/a/f1"

rm -rf "$R/d"
mkdir "$R/d"
echo fresh >"$R/d/fresh"
run_fsi "$T/out" "$T/err" rescan "$R/d"
is "$rc" 0 "rescan of a directory replaced by another exits 0"
find -P "$R/d" -print0 | sort -z >"$T/exp"
sub_paths "$R/d" >"$T/got"
same_bytes "... the new directory's entries replace the old ones" "$T/got" "$T/exp"

echo w2 >"$R/$weird/w2"
run_fsi "$T/out" "$T/err" rescan "$R/$weird/"
is "$rc" 0 "a directory named with a newline and a leading dash, given with a slash"
ok "... is rescanned" in_index "$R/$weird/w2"

ln -s "$R/a" "$T/link"
echo vialink >"$R/a/vialink"
run_fsi "$T/out" "$T/err" rescan "$T/link"
is "$rc" 0 "a symlink to a known directory is its real path"
ok "... which is rescanned" in_index "$R/a/vialink"

# ---- the whole root ------------------------------------------------------------

run_fsi "$T/out" "$T/err" rescan "$R"
is "$rc" 0 "rescan of the root itself"
find -P "$R" -name '*.tmp' -prune -o -printf "$META_FMT" | sort -z >"$T/exp"
index_meta >"$T/got"
same_bytes "the index equals find over the tree" "$T/got" "$T/exp"
is "$(nroots)" "$roots_before" "still one root"

# ---- what cannot be rescanned ----------------------------------------------------

before=$(FSI find -0 | sha256sum)
run_fsi "$T/out" "$T/err" rescan "$T/outside"
is "$rc" 2 "a directory outside every root: exit 2"
like "$(cat "$T/err")" "is not in the index" "... saying it is not in the index"
run_fsi "$T/out" "$T/err" rescan "$R/a/f1"
is "$rc" 2 "a file: exit 2"
like "$(cat "$T/err")" "Not a directory" "... saying it is not a directory"
run_fsi "$T/out" "$T/err" rescan "$T/no/such/dir"
is "$rc" 2 "a path whose parent does not exist either: exit 2"
like "$(cat "$T/err")" "cannot rescan" "... naming it"
run_fsi "$T/out" "$T/err" rescan "$R/a" "$T/outside"
is "$rc" 2 "one bad DIR among good ones: exit 2"
is "$(FSI find -0 | sha256sum)" "$before" "... and nothing was rescanned"
run_fsi "$T/out" "$T/err" rescan
is "$rc" 2 "no DIR: exit 2"
run_fsi "$T/out" "$T/err" rescan --bogus "$R"
is "$rc" 2 "an unknown option: exit 2"

exec 8>>"$DB/data.mdb"
flock -n 8 || bail "cannot lock $DB/data.mdb"
run_fsi "$T/out" "$T/err" rescan "$R/a"
is "$rc" 2 "while another scan holds the index: exit 2"
like "$(cat "$T/err")" "another scan is writing this index" "... saying so"
exec 8>&-

done_testing
