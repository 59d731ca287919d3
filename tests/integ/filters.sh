#!/bin/bash
# SPDX-License-Identifier: MIT
#
# filters.sh - find's filters (--size --newer --older --user --group --empty
# --dup --under --exists), -l, --sort and the locate spellings, each against
# GNU find with the equivalent expression on a tree built here: files of
# chosen sizes (around each unit), mtimes to the nanosecond (touch -d),
# owners (chown, as root), empty files and directories, duplicates and hard
# links, and names with a newline, invalid UTF-8 and a leading dash in every
# part of it.  Listings are compared as sorted NUL-separated bytes; --sort
# against sort(1); -l against a line find -printf computes from lstat.

. "${top_srcdir:-.}/tests/integ/lib.sh"

export TZ=UTC0

fast_dir "$T/tree"
R=$(realpath -- "$T/tree")

# ---- the tree ------------------------------------------------------------------

# Odd names, each as a file and as a directory holding one: a newline,
# invalid UTF-8, a leading dash, a space.
NL=$'\n'
odd=("nl${NL}name" $'bad\xff\xfe' '-dash' 'sp ace')
mk_tree() {
	local d n i=0
	mkdir -p "$R/sz" "$R/tm" "$R/own" "$R/empty" "$R/dup/sub" || return 1
	for n in 0 1 1023 1024 1025 4095 4096 1048575 1048576 1048577; do
		head -c "$n" /dev/zero >"$R/sz/f$n" || return 1
	done
	for n in "${odd[@]}"; do
		mkdir -- "$R/$n" "$R/empty/$n" && head -c $((i * 700)) /dev/urandom >"$R/$n/$n" ||
			return 1
		i=$((i + 1))
	done
	# mtimes: either side of 2005-05-05 05:05:05 by a nanosecond, and far off.
	touch -d '2005-05-05 05:05:04.999999999' "$R/tm/before-1ns"
	touch -d '2005-05-05 05:05:05' "$R/tm/at" "$R/tm/nl${NL}at"
	touch -d '2005-05-05 05:05:05.000000001' "$R/tm/after-1ns" "$R/tm/-after"
	touch -d '1990-01-01 00:00:00' "$R/tm/old"
	touch -d '2030-01-01 00:00:00' "$R/tm/future"
	# Empty: files, directories, a directory holding only an empty directory.
	: >"$R/empty/f0"
	: >"$R/empty/nl${NL}empty"
	mkdir -p "$R/empty/d1" "$R/empty/d2/inner" "$R/empty/-dash-d"
	printf x >"$R/empty/not-empty"
	# Duplicates: a content in three files (one with an odd name), a hard link
	# of one of them (no duplicate of it), a file alone in its content.
	printf 'same content\n' >"$R/dup/a"
	cp "$R/dup/a" "$R/dup/sub/b"
	cp "$R/dup/a" "$R/dup/x${NL}y"
	printf 'unique\n' >"$R/dup/alone"
	ln "$R/dup/alone" "$R/dup/alone-link"
	printf 'pair\n' >"$R/dup/p1"
	ln "$R/dup/p1" "$R/dup/p1-link"
	cp "$R/dup/p1" "$R/dup/"$'\xff'p2
	ln -s a "$R/dup/symlink"
	mkfifo "$R/dup/fifo"
	# Owners, as root: uids and gids with no name, and root's.
	if is_root; then
		printf 1 >"$R/own/u1234"
		printf 2 >"$R/own/u1234-g2345"
		printf 3 >"$R/own/nl${NL}u4321"
		mkdir "$R/own/d1234"
		chown 1234 "$R/own/u1234" "$R/own/d1234"
		chown 1234:2345 "$R/own/u1234-g2345"
		chown 4321:2345 "$R/own/nl${NL}u4321"
	fi
}
mk_tree || bail "cannot build the tree"
touch -d '2005-05-05 05:05:05.25' "$T/ref"
scan_ok "scan --hash of the tree" --hash "$R"

# ---- helpers -------------------------------------------------------------------

# same_as DESC FSI-ARGS... -- FIND-EXPR...: `fsindex find -0 FSI-ARGS` and
# `find ROOT FIND-EXPR -print0` list the same paths (sorted), and not none
# (unless $may_be_empty is set).
same_as() {
	local desc=$1 fa=() n
	shift
	while [ "$1" != -- ]; do fa+=("$1"); shift; done
	shift
	FSI find -0 "${fa[@]}" | sort -z >"$T/got"
	find -P "$R" "$@" -print0 | sort -z >"$T/exp"
	n=$(count0 "$T/exp")
	same_bytes "$desc ($n)" "$T/got" "$T/exp"
	[ "$n" -gt 0 ] || [ -n "$may_be_empty" ] || { fail "$desc: the oracle lists nothing"; return 1; }
}

# ---- sizes ------------------------------------------------------------------------

for s in 0 1 1023 1024 1025 4096 1048576; do
	same_as "--size $s = find -size ${s}c" --size "$s" -- -size "${s}c"
	same_as "--size +$s = find -size +${s}c" --size "+$s" -- -size "+${s}c"
	[ "$s" = 0 ] && continue	# nothing is smaller
	same_as "--size -$s = find -size -${s}c" --size "-$s" -- -size "-${s}c"
done
same_as "--size 1k = -size 1024c" --size 1k -- -size 1024c
same_as "--size 1K = -size 1024c" --size 1K -- -size 1024c
same_as "--size -1k = -size -1024c (no rounding up to units)" --size -1k -- -size -1024c
same_as "--size +1M = -size +1048576c" --size +1M -- -size +1048576c
same_as "--size 1M = -size 1048576c" --size 1M -- -size 1048576c
same_as "--size -1G = -size -1073741824c" --size -1G -- -size -1073741824c
same_as "--size -1T = -size -1099511627776c" --size -1T -- -size -1099511627776c
may_be_empty=1 same_as "--size +1T: nothing" --size +1T -- -size +1099511627776c

# ---- times ----------------------------------------------------------------------

D='2005-05-05 05:05:05'
same_as "--newer '$D' = find -newermt" --newer "$D" -- -newermt "$D"
same_as "--older '$D' = find ! -newermt (D - 1 ns)" --older "$D" -- ! -newermt '2005-05-05 05:05:04.999999999'
same_as "--newer '${D}.5' (fraction)" --newer "$D.5" -- -newermt "$D.5"
same_as "--newer 2005-05-05T05:05:05Z (T, Z)" --newer 2005-05-05T05:05:05Z -- -newermt "$D"
same_as "--newer 2005-05-05 (a date alone: midnight)" --newer 2005-05-05 -- -newermt 2005-05-05
e=$(date -d "$D" +%s)
same_as "--newer @$e = -newermt @$e" --newer "@$e" -- -newermt "@$e"
same_as "--newer FILE = find -newer FILE" --newer "$T/ref" -- -newer "$T/ref"
same_as "--older FILE = ! -newermt (its mtime - 1 ns)" --older "$T/ref" -- ! -newermt '2005-05-05 05:05:05.249999999'
same_as "--newer and --older: a window" --newer 1990-01-01 --older 2030-01-01 -- -newermt 1990-01-01 ! -newermt '2029-12-31 23:59:59.999999999'
same_as "--newer '$D' --type f -b after (with a pattern)" --newer "$D" --type f -b after -- -newermt "$D" -type f -name '*after*'

# ---- owners ------------------------------------------------------------------------

if is_root; then
	same_as "--user 1234 = find -user 1234" --user 1234 -- -user 1234
	same_as "--user 4321 = find -user 4321" --user 4321 -- -user 4321
	same_as "--group 2345 = find -group 2345" --group 2345 -- -group 2345
	same_as "--user root = find -user root" --user root -- -user root
	same_as "--group 0 = find -group 0" --group 0 -- -group 0
	same_as "--user 1234 --group 2345: both" --user 1234 --group 2345 -- -user 1234 -group 2345
	same_as "--user 1234 --type d" --user 1234 --type d -- -user 1234 -type d
	FSI find --user 55555 >/dev/null 2>&1
	is "$?" 1 "--user of a uid nobody has: nothing matched, exit 1"
else
	skip "owners need root (chown)" 8
fi

# ---- --empty, --dup ----------------------------------------------------------------

same_as "--empty = find -empty" --empty -- -empty
same_as "--empty --type d = find -empty -type d" --empty --type d -- -empty -type d
same_as "--empty in a subtree, with a glob = find -path" --empty "$R/empty/*" -- -empty -path "$R/empty/*"

# The oracle of --dup: regular files whose md5 another inode has.
find -P "$R" -type f -printf '%i\0%p\0' | {
	declare -A inos paths
	while IFS= read -r -d '' ino && IFS= read -r -d '' p; do
		h=$(md5sum <"$p" | cut -d' ' -f1)
		case " ${inos[$h]} " in *" $ino "*) ;; *) inos[$h]="${inos[$h]} $ino" ;; esac
		printf '%s\0%s\0' "$h" "$p"
	done >"$T/hashes"
	while IFS= read -r -d '' h && IFS= read -r -d '' p; do
		set -- ${inos[$h]}
		[ $# -ge 2 ] && printf '%s\0' "$p"
	done <"$T/hashes"
} | sort -z >"$T/dup.exp"
FSI find -0 --dup | sort -z >"$T/dup.got"
same_bytes "--dup = files whose content another inode has (md5sum; $(count0 "$T/dup.exp"))" "$T/dup.got" "$T/dup.exp"
ok "... that is not nothing, and holds a name with a newline" grep -qz $'x\ny' "$T/dup.got"
ok "... the hard link of a file alone in its content is no duplicate" \
	bash -c "! grep -qzF '$R/dup/alone' '$T/dup.got'"
FSI find -0 --dup "$R/dup/p" | sort -z >"$T/got"
printf '%s\0' "$R/dup/p1" "$R/dup/p1-link" | sort -z >"$T/exp"
same_bytes "--dup with a pattern: p1 and its link (p2's pair), not p2" "$T/got" "$T/exp"

# ---- --under ------------------------------------------------------------------------

for d in "$R/empty" "$R/nl${NL}name" "$R/-dash" "$R/dup/sub" "$R"; do
	same_as "--under $(printf %q "$d") = find -path D -o -path 'D/*'" --under "$d" -- \( -path "$d" -o -path "$d/*" \)
done
same_as "--under a file: just the file" --under "$R/dup/a" -- -path "$R/dup/a"
same_as "--under with --size and a pattern" --under "$R/sz" --size +1000 f10 -- -path "$R/sz/*" -size +1000c -path '*f10*'
(cd "$R/dup" && FSI find -0 --under sub) | sort -z >"$T/got"
printf '%s\0' "$R/dup/sub" "$R/dup/sub/b" | sort -z >"$T/exp"
same_bytes "--under a relative DIR is resolved from the working directory" "$T/got" "$T/exp"
FSI find -0 --under "$R//dup/sub/" | sort -z >"$T/got"
same_bytes "--under with repeated and trailing slashes" "$T/got" "$T/exp"
FSI find -0 --under "$R/dup/sub" --sort=path >"$T/got"
same_bytes "--under prints paths as the index spells them" "$T/got" "$T/exp"
h=$(xxh128sum "$R/dup/a" 2>/dev/null | cut -d' ' -f1)
if [ -n "$h" ]; then
	FSI find -0 --hash "$h" --under "$R/dup/sub" >"$T/got"
	printf '%s\0' "$R/dup/sub/b" >"$T/exp"
	same_bytes "--hash with --under: only the copy below DIR" "$T/got" "$T/exp"
else
	skip "no xxh128sum" 1
fi
same_as "--under an ancestor of the root: the root's tree" --under "$T" -- -true
run_fsi "$T/out" "$T/err" find --under "$T/ref"
is "$rc" 2 "--under a file outside the roots: exit 2"
like "$(cat "$T/err")" "not in the index" "... 'not in the index'"

# --under reads only its subtree.  In a copy of the index, the node record of
# one file outside it is removed (mdb_dump, drop it, mdb_load): a pass that
# reads that node fails, so one that does not fail has not read it.
holed=$T/db-holed
mkdir -p "$holed"
mdb_dump -a "$DB" | perl -ne '
	if (/^database=(\S+)/) { $db = $1 }
	if (($db eq "node" || $db eq "cnode") && /^ ([0-9a-f]+)$/) {
		push @rec, $_;
		next if @rec < 2;
		print @rec unless pack("H*", $1) =~ /alone-link/;	# the name is in the record
		@rec = ();
		next;
	}
	print' >"$T/holed.dump" && mdb_load -f "$T/holed.dump" "$holed" 2>/dev/null
DB=$holed run_fsi "$T/out" "$T/err" find --size +0
is "$rc" 2 "a full pass with --size over the holed index: exit 2 (it meets the missing node)"
DB=$holed run_fsi "$T/out" "$T/err" find -0 --size +0 --under "$R/sz"
is "$rc" 0 "--under with --size over the same index: exit 0, the hole is not read"
sort -z "$T/out" >"$T/got"
find -P "$R/sz" -size +0c -print0 | sort -z >"$T/exp"
same_bytes "... and the subtree's answer is find's" "$T/got" "$T/exp"

# ---- -l ------------------------------------------------------------------------------

LFMT='%M %n %u %g %s %TY-%Tm-%Td %TH:%TM %p\0'
FSI find -0 -l | sort -z >"$T/got"
find -P "$R" -printf "$LFMT" | sort -z >"$T/exp"
same_bytes "-l = find -printf '%M %n %u %g %s %TY-%Tm-%Td %TH:%TM %p' ($(count0 "$T/exp"))" "$T/got" "$T/exp"
FSI find -l --long --type f "$R/sz/f1024" >"$T/got"
find -P "$R/sz/f1024" -printf "${LFMT%\\0}\n" >"$T/exp"
same_bytes "-l and --long, a newline by default" "$T/got" "$T/exp"

# ---- --sort ------------------------------------------------------------------------

FSI find -0 --sort=path >"$T/got"
find -P "$R" -print0 | sort -z >"$T/exp"
same_bytes "--sort=path = sort -z (bytes, C locale)" "$T/got" "$T/exp"
FSI find -0 --sort=path --reverse >"$T/got"
find -P "$R" -print0 | sort -z -r >"$T/exp"
same_bytes "--sort=path --reverse = sort -z -r" "$T/got" "$T/exp"
TAB=$'\t'
FSI find -0 --sort=size >"$T/got"
find -P "$R" -printf "%s\t%p\0" | sort -z -t "$TAB" -k1,1n -k2 | sed -z 's/^[^\t]*\t//' >"$T/exp"
same_bytes "--sort=size = sort -n on size, then path" "$T/got" "$T/exp"
FSI find --sort=size --reverse --printf '%s\t%p\0' >"$T/got"
find -P "$R" -printf "%s\t%p\0" | sort -z -t "$TAB" -k1,1nr -k2r >"$T/exp"
same_bytes "--sort=size --reverse with --printf: the kept nodes print" "$T/got" "$T/exp"
FSI find -0 --sort=mtime "$R/tm" >"$T/got"
find -P "$R/tm" -printf "%T@\t%p\0" | sort -z -t "$TAB" -k1,1n -k2 | sed -z 's/^[^\t]*\t//' >"$T/exp"
same_bytes "--sort=mtime: nanoseconds apart are ordered" "$T/got" "$T/exp"
FSI find -0 -l --sort=mtime --reverse --type f >"$T/got"
find -P "$R" -type f -printf "%T@\t%p\t$LFMT" | sort -z -t "$TAB" -k1,1nr -k2r |
	sed -z 's/^[^\t]*\t[^\t]*\t//' >"$T/exp"
same_bytes "-l --sort=mtime --reverse: newest first, ties by path descending" "$T/got" "$T/exp"
FSI find -0 --sort=size --reverse -n 3 --type f >"$T/got"
find -P "$R" -type f -printf "%s\t%p\0" | sort -z -t "$TAB" -k1,1nr -k2r | head -z -n 3 |
	sed -z 's/^[^\t]*\t//' >"$T/exp"
same_bytes "--sort=size --reverse -n 3: the three largest (--limit after sorting)" "$T/got" "$T/exp"
is "$(FSI find --sort=size -c --type f)" "$(find -P "$R" -type f -printf x | wc -c)" "--sort with --count: the count"

# ---- locate spellings -------------------------------------------------------------

is "$(FSI find -c -b f1)" "$(FSI find --count --name f1)" "-c -b = --count --name"
FSI find -0 -r 'f10[0-9]+$' | sort -z >"$T/got"
FSI find -0 --regex 'f10[0-9]+$' | sort -z >"$T/exp"
same_bytes "-r REGEX = --regex REGEX" "$T/got" "$T/exp"
same_as "-r REGEX = find -regextype posix-extended -regex" -r '/f10[0-9]+$' -- -regextype posix-extended -regex '.*/f10[0-9]+'
same_as "-r twice and an operand (all regexes, AND)" -r '5$' -r 'f1' 'sz/' -- -regextype posix-extended -regex '.*5' -regex '.*f1.*' -path '*sz/*'
is "$(FSI find -n 2 | wc -l)" 2 "-n 2 = --limit 2"

# ---- --exists after deleting without a rescan -----------------------------------------

rm -rf -- "$R/nl${NL}name" "$R/dup/sub" "$R/sz/f1024" "$R/tm/nl${NL}at" "$R/empty/-dash-d"
FSI find -0 | sort -z >"$T/stale"
ok "without --exists the deleted entries are still listed" grep -qzF "$R/dup/sub/b" "$T/stale"
same_as "--exists = find (lstat of each, no rescan)" --exists -- -true
same_as "--exists with --size" --exists --size -1025 -- -size -1025c
FSI find -0 --exists "$R/dup/sub" >"$T/got"
is "$(count0 "$T/got")" 0 "--exists: nothing under a deleted directory"

# Paths longer than PATH_MAX: lstat'd a few directories at a time.
D=$T/deep
mk_deep_tree "$D" || bail "cannot build the deep tree"
D=$(realpath -- "$D")
scan_ok "scan a tree deeper than PATH_MAX" "$D"
find "$D" -name half-way -delete
FSI find -0 --exists --under "$D" | sort -z >"$T/got"
find -P "$D" -print0 | sort -z >"$T/exp"
same_bytes "--exists below PATH_MAX and past it ($(count0 "$T/exp"); half-way deleted)" "$T/got" "$T/exp"
ok "... the bottom file, past PATH_MAX, is there" grep -qz '/bottom$' "$T/got"
d=$(find "$D" -name bottom -printf %h)
FSI find -0 --under "$d" | sort -z >"$T/got"
find -P "$D" \( -path "$d" -o -path "$d/*" \) -print0 | sort -z >"$T/exp"
same_bytes "--under a directory whose path is past PATH_MAX" "$T/got" "$T/exp"

# ---- bad arguments ------------------------------------------------------------------

bad() {	# bad DESC WORD ARGS...: exit 2, and stderr names WORD
	local desc=$1 word=$2
	shift 2
	run_fsi "$T/out" "$T/err" find "$@"
	is "$rc" 2 "$desc: exit 2"
	ok "... the message names '$word'" grep -qF -- "$word" "$T/err"
}
bad "--size 1x" "1x" --size 1x
bad "--size ''" "--size" --size ''
bad "--size 99999999999999999999" "99999999999999999999" --size 99999999999999999999
bad "--size 16777216T (overflow)" "16777216T" --size 16777216T
bad "--newer 2001-02-30 (no such day)" "2001-02-30" --newer 2001-02-30
bad "--older '2001-02-03 25:00'" "25:00" --older '2001-02-03 25:00'
bad "--newer a missing file" "$T/no-such-file" --newer "$T/no-such-file"
bad "--user no-such-user" "no-such-fsindex-user" --user no-such-fsindex-user
bad "--group no-such-group" "no-such-fsindex-group" --group no-such-fsindex-group
bad "--sort=name" "name" --sort=name
bad "--reverse without --sort" "--reverse" --reverse
bad "-l with --json" "--json" -l --json
bad "-l with --count" "-c" -l -c
bad "--under twice" "--under" --under "$R" --under "$R/dup"
bad "--under a missing relative DIR" "no-such-dir" --under no-such-dir

done_testing
