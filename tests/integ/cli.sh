#!/bin/bash
# SPDX-License-Identifier: MIT
#
# cli.sh - the command line: --version/--help, each command's --help against
# what getopt takes and against the man page (SYNOPSIS and OPTIONS, both
# ways), exit codes, -v (and -vv) meaning the same in scan and dups, every
# `find` matching mode and output option against find(1), the default index
# location and its mode.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

R=$T/tree
mkdir -p "$R"/alpha/sub "$R"/a/b "$R"/a-c "$R"/beta "$R"/empty
(
	cd "$R" || exit 1
	echo 1 >alpha/one.txt
	echo 22 >alpha/two.TXT
	echo 333 >alpha/Mixed.Case.c
	echo d >alpha/sub/deep.txt
	echo n >alpha/sub/notes.md
	: >a/b/x
	: >a-c/y
	printf 'int main;' >beta/main.c
	: >beta/util.c
	: >beta/util.h
	: >beta/subway.txt
	ln -s alpha link
	ln -s nowhere beta/dangling
	touch -d '2010-01-01 00:00:00.25 UTC' beta/main.c
) || bail "cannot build the test tree"

# Newline-separated oracle listings are safe here: no name has a newline.
# Sorted in fsindex's output order: depth first, names bytewise (so "a/b"
# comes before "a-c": sort with '/' mapped below every other byte).
dfsort() {
	tr '/' '\001' | sort | tr '\001' '/'
}
ofind() {
	find -P "$R" "$@" 2>/dev/null | dfsort
}

# ---- version, help, usage errors -------------------------------------------

out=$(fsi --version 2>/dev/null)
rc=$?
is "$rc" 0 "--version exits 0"
is "$(printf '%s\n' "$out" | head -n 1)" "fsindex 0.1.0" "--version prints 'fsindex 0.1.0'"
is "$(fsi -V 2>/dev/null | head -n 1)" "fsindex 0.1.0" "-V prints the version too"

fsi --help >"$T/help.main" 2>&1
is "$?" 0 "fsindex --help exits 0"
like "$(cat "$T/help.main")" 'scan' "fsindex --help lists 'scan'"
like "$(cat "$T/help.main")" 'find' "fsindex --help lists 'find'"
fsi scan --help >"$T/help.scan" 2>&1
is "$?" 0 "fsindex scan --help exits 0"
fsi rescan --help >"$T/help.rescan" 2>&1
is "$?" 0 "fsindex rescan --help exits 0"
fsi find --help >"$T/help.find" 2>&1
is "$?" 0 "fsindex find --help exits 0"
fsi dups --help >"$T/help.dups" 2>&1
is "$?" 0 "fsindex dups --help exits 0"

# Every long option of the help texts is in the man page.
MAN=$top_srcdir/man/fsindex.1
if [ -f "$MAN" ]; then
	# roff writes '-' as '\-' (and sometimes '\(hy'); drop font escapes too.
	sed -e 's/\\f[BIRP]//g' -e 's/\\(hy/-/g' -e 's/\\-/-/g' -e 's/\\//g' "$MAN" >"$T/man.txt"
	opts=$(cat "$T/help.main" "$T/help.scan" "$T/help.rescan" "$T/help.find" "$T/help.dups" |
		grep -oE -- '--[a-zA-Z][-a-zA-Z0-9]*' | sort -u)
	missing=
	for o in $opts; do
		grep -qF -- "$o" "$T/man.txt" || missing="$missing $o"
	done
	is "$missing" "" "every long option in --help appears in man/fsindex.1 ($(echo $opts | wc -w) options)"
	for sub in scan find; do
		like "$(cat "$T/man.txt")" "(^|[^a-z])$sub([^a-z]|$)" "man page documents '$sub'"
	done
else
	fail "man/fsindex.1 exists"
	diag "no file $MAN"
fi

# ---- each command's --help against getopt and against the man page ------------------

# help_opts SUB: one line per option of `fsindex SUB --help`: "SHORT LONG ARG"
# ("-" for none), from the option lines ("  -x, --name ARG" or "      --name=ARG").
help_opts() {
	fsi "$1" --help | sed -nE \
		-e 's/^  (-[a-zA-Z0-9]), (--[a-z][-a-z0-9]*)([ =]([A-Z]+))?( .*)?$/\1 \2 \4/p' \
		-e 's/^      (--[a-z][-a-z0-9]*)([ =]([A-Z]+))?( .*)?$/- \1 \3/p' |
		awk '{ print $1, $2, ($3 == "" ? "-" : $3) }'
}
# A value each argument name accepts (so the option parses and --help is reached).
sample() {
	case $1 in
	DIR) echo "$T/help-db" ;; N) echo 1 ;; MODE) echo auto ;; GLOB) echo x ;;
	T) echo f ;; FORMAT) echo %p ;; HEX) echo 0123456789abcdef0123456789abcdef ;;
	WHICH) echo first ;; SECONDS) echo 1 ;; SIZE) echo +1k ;; WHEN) echo @0 ;;
	USER | GROUP) echo 0 ;; KEY) echo size ;; REGEX) echo x ;;
	*) echo "no-sample-for-$1" ;;
	esac
}
# man_block START: the lines of the man text from the line START to the next
# line that is ".PP", ".SH", ".SS" or ".".
man_block() {
	awk -v start="$1" '$0 == start { on = 1; next } on && /^\.(PP|SH|SS|)( |$)/ { exit } on' "$T/man.txt"
}
# man_tags SECTION: the tag lines (each right after a ".TP") of ".SS SECTION".
man_tags() {
	man_block ".SS $1" | awk 'tp { print; tp = 0 } /^\.TP/ { tp = 1 }'
}
has_word() {	# has_word FILE WORD: WORD in FILE, not as part of a longer option
	grep -qE -- "(^|[^-a-zA-Z0-9])$2([^-a-zA-Z0-9]|\$)" "$1"
}
if [ -f "$T/man.txt" ]; then
	man_tags "Common options" >"$T/man.common"
	for sub in scan rescan find dups status reload du; do
		help_opts "$sub" >"$T/opts.$sub"
		n=$(wc -l <"$T/opts.$sub")
		case $sub in status | reload) min=1 ;; *) min=3 ;; esac	# the daemon's clients: few
		ok "$sub --help lists options ($n)" test "$n" -gt "$min"
		refused= undocumented= notinsyn= nothelp=
		man_block ".B fsindex $sub" >"$T/man.syn.$sub"
		{ man_tags "Options for $sub"; cat "$T/man.common"; } >"$T/man.tags.$sub"
		while read -r short long arg; do
			# getopt takes it: with a valid argument, --help after it is reached.
			if [ "$arg" = - ]; then
				fsi "$sub" "$long" --help >"$T/h.out" 2>"$T/h.err"
			else
				fsi "$sub" "$long=$(sample "$arg")" --help >"$T/h.out" 2>"$T/h.err"
			fi
			st=$?
			{ [ $st -eq 0 ] && head -n 1 "$T/h.out" | grep -q "^Usage: fsindex $sub "; } ||
				refused="$refused $long($st)"
			if [ "$short" != - ]; then
				fsi "$sub" "$short" $([ "$arg" = - ] || sample "$arg") --help >/dev/null 2>&1 ||
					refused="$refused $short"
			fi
			has_word "$T/man.tags.$sub" "$long" || undocumented="$undocumented $long"
			[ "$long" = --help ] && continue
			syn=$long
			[ "$short" != - ] && syn=$short
			has_word "$T/man.syn.$sub" "$syn" || notinsyn="$notinsyn $syn"
		done <"$T/opts.$sub"
		is "$refused" "" "$sub: getopt takes every option its --help lists"
		is "$undocumented" "" "$sub: every option of its --help has an entry in OPTIONS (its own or Common)"
		is "$notinsyn" "" "$sub: every option of its --help is in its SYNOPSIS"
		for o in $(grep -oE -- '(^|[^-a-zA-Z0-9])--?[a-zA-Z0-9][-a-zA-Z0-9]*' "$T/man.syn.$sub" |
			sed -E 's/^[^-]//' | sort -u); do
			awk -v o="$o" '$1 == o || $2 == o { f = 1 } END { exit !f }' "$T/opts.$sub" ||
				nothelp="$nothelp $o"
		done
		is "$nothelp" "" "$sub: every option of its SYNOPSIS is in its --help"
		FSI "$sub" --no-such-option >/dev/null 2>"$T/err"
		is "$?" 2 "$sub --no-such-option: exit 2, as EXIT STATUS says of bad usage"
		like "$(cat "$T/err")" "Try 'fsindex $sub --help'" "... and points to $sub --help"
	done
	# What the man page says takes the shared options, --help and getopt agree on.
	for o in -j --io -q -v; do
		for sub in scan dups; do
			awk -v o="$o" '$1 == o || $2 == o { f = 1 } END { exit !f }' "$T/opts.$sub"
			is "$?" 0 "$sub takes $o"
		done
		awk -v o="$o" '$1 == o || $2 == o { f = 1 } END { exit !f }' "$T/opts.find"
		is "$?" 1 "find does not take $o"
	done
fi

fsi >/dev/null 2>"$T/err"
rc=$?
is "$rc" 2 "no command: exit 2"
ok "no command: a message on stderr" test -s "$T/err"
fsi frobnicate >/dev/null 2>"$T/err"
is "$?" 2 "unknown command: exit 2"
ok "unknown command: a message on stderr" test -s "$T/err"
fsi --no-such-option >/dev/null 2>&1
is "$?" 2 "unknown global option: exit 2"
FSI scan --no-such-option "$R" >/dev/null 2>"$T/err"
is "$?" 2 "scan --no-such-option: exit 2"
ok "scan --no-such-option: a message on stderr" test -s "$T/err"
FSI find --no-such-option >/dev/null 2>&1
is "$?" 2 "find --no-such-option: exit 2"
FSI scan >/dev/null 2>&1
is "$?" 2 "scan without a PATH: exit 2"
FSI scan -j nonsense "$R" >/dev/null 2>&1
is "$?" 2 "scan -j nonsense: exit 2"

# ---- find on a missing index -------------------------------------------------

FSI find >/dev/null 2>"$T/err"
rc=$?
is "$rc" 2 "find with no index: exit 2"
like "$(cat "$T/err")" "no index at '?$DB" "find with no index: \"no index at '<dir>'\""
ok "find with no index does not create one" test ! -e "$DB"
mkdir "$T/empty-db"
DB=$T/empty-db FSI find >/dev/null 2>"$T/err"
is "$?" 2 "find on an empty directory as --db: exit 2"
like "$(cat "$T/err")" "no index at '?$T/empty-db" "... \"no index at '<dir>'\""
is "$(ls -A "$T/empty-db")" "" "... and nothing is created in it"

# ---- scan, then every find mode against find(1) ------------------------------

scan_ok "scan of the test tree exits 0" "$R"
FSI find >"$T/all" 2>"$T/err"
is "$?" 0 "find with no pattern: exit 0"
is "$(sort "$T/all")" "$(find -P "$R" | sort)" "find with no pattern lists every entry, root included"
ok "find writes nothing to stderr" test ! -s "$T/err"

# Depth-first by name bytes: "a" and everything under it before "a-c".
is "$(cat "$T/all")" "$(find -P "$R" | dfsort)" \
	"output order is depth-first, names sorted bytewise"
is "$(grep -nx -e "$R/a/b/x" -e "$R/a-c" "$T/all" | cut -d: -f2)" "$R/a/b/x
$R/a-c" "a/b/x is listed before a-c"

out=$(FSI find zzz-no-such-thing 2>&1)
rc=$?
is "$rc" 1 "find: exit 1 when nothing matches"
is "$out" "" "find: no output when nothing matches"
out=$(FSI find one.txt)
is "$?" 0 "find: exit 0 on a match"
is "$out" "$R/alpha/one.txt" "find PATTERN: substring of the path"

is "$(FSI find --count)" "$(ofind | wc -l)" "--count counts every entry"
is "$(FSI find --count .txt)" "$(ofind -path '*.txt*' | wc -l)" "--count PATTERN"
is "$(FSI find --count zzz-no-such-thing)" "0" "--count prints 0 when nothing matches"
FSI find --count zzz-no-such-thing >/dev/null
is "$?" 1 "--count with no match: exit 1"
is "$(FSI find --limit 3 | wc -l)" 3 "--limit 3 prints 3 paths"
is "$(FSI find --limit 3)" "$(ofind | head -n 3)" \
	"--limit 3 prints the first 3 in output order"
is "$(FSI find --limit 1000 | wc -l)" "$(ofind | wc -l)" "--limit above the count prints everything"

FSI find -0 >"$T/all0"
is "$(count0 "$T/all0")" "$(ofind | wc -l)" "-0 terminates every path with NUL"
is "$(tr '\0' '\n' <"$T/all0")" "$(cat "$T/all")" "-0 prints the same paths as the default"
FSI find --null >"$T/all0b"
ok "--null is -0" cmp "$T/all0" "$T/all0b"

is "$(FSI find --type f)" "$(ofind -type f)" "--type f"
is "$(FSI find --type d)" "$(ofind -type d)" "--type d"
is "$(FSI find --type l)" "$(ofind -type l)" "--type l"
is "$(FSI find --type f,d)" "$(ofind -type f -o -type d)" "--type f,d"
is "$(FSI find --type l link)" "$R/link" "--type with a pattern"
FSI find --type q >/dev/null 2>&1
is "$?" 2 "--type with an unknown letter: exit 2"

is "$(FSI find TXT)" "$R/alpha/two.TXT" "matching is case-sensitive"
is "$(FSI find -i TXT)" "$(ofind -ipath '*txt*')" "-i folds ASCII case"
is "$(FSI find --ignore-case '*.TXT')" "$(ofind -ipath '*.txt')" "--ignore-case with a glob"

# Globs: over the whole path, '*' crossing '/'.
is "$(FSI find "$R/*/deep.txt")" "$R/alpha/sub/deep.txt" "glob: '*' crosses '/'"
is "$(FSI find "$R/a*x")" "$(ofind -path "$R/a*x")" "glob is anchored at both ends of the path"
is "$(FSI find '*.c')" "$(ofind -path '*.c')" "glob '*.c' over the whole path"
is "$(FSI find '*/util.?')" "$(ofind -path '*/util.?')" "glob with ?"
is "$(FSI find '*/[mu]*.c')" "$(ofind -path '*/[mu]*.c')" "glob with [...]"
FSI find 'alpha*' >/dev/null
is "$?" 1 "glob 'alpha*' matches no absolute path (they start with /)"

# --name: the last component only.
is "$(FSI find --name 'alpha*')" "$R/alpha" "--name glob matches the last component"
is "$(FSI find --name sub)" "$(ofind -name '*sub*')" "--name substring: only entries whose own name matches"
unlike "$(FSI find --name sub)" 'deep\.txt' "--name sub does not list sub's children"
like "$(FSI find sub)" 'deep\.txt' "without --name, sub/deep.txt matches 'sub'"
is "$(FSI find --name '*.c')" "$(ofind -name '*.c')" "--name '*.c'"

# --regex: unanchored POSIX ERE.
is "$(FSI find --regex '\.(c|h)$')" "$(ofind | grep -E '\.(c|h)$')" "--regex with alternation and \$"
is "$(FSI find --regex 'u[a-z]+l')" "$(ofind | grep -E 'u[a-z]+l')" "--regex is unanchored"
is "$(FSI find --regex "^$R/a")" "$(ofind | grep -E "^$R/a")" "--regex ^ anchors at the path start"
FSI find --regex '^alpha' >/dev/null
is "$?" 1 "--regex '^alpha' matches nothing (paths start with /)"
FSI find --regex 'a(b' >/dev/null 2>"$T/err"
is "$?" 2 "malformed --regex 'a(b': exit 2"
ok "malformed --regex: a message on stderr" test -s "$T/err"
FSI find --regex '[z-a]' >/dev/null 2>&1
is "$?" 2 "malformed --regex '[z-a]': exit 2"
# A trailing backslash escapes nothing: a glob ending in one is refused.
# (A pattern without * ? [ is a plain substring, where '\' is just a byte.)
FSI find '*.c\' >/dev/null 2>"$T/err"
is "$?" 2 "trailing backslash in a glob: exit 2"
ok "trailing backslash: a message on stderr" test -s "$T/err"
FSI find 'alpha\\*\' >/dev/null 2>&1
is "$?" 2 "trailing backslash after an escaped backslash: exit 2"
FSI find --name 'x*\' >/dev/null 2>&1
is "$?" 2 "trailing backslash with --name: exit 2"
is "$(FSI find "$R/beta/*\.c")" "$R/beta/main.c
$R/beta/util.c" "glob: backslash escapes the next character"

# Several patterns must all match.
is "$(FSI find alpha .txt)" "$(ofind -path '*alpha*' -path '*.txt*')" "two patterns: AND"
is "$(FSI find alpha sub deep)" "$R/alpha/sub/deep.txt" "three patterns: AND"
FSI find alpha beta >/dev/null
is "$?" 1 "two patterns that never meet: exit 1"
is "$(FSI find --name sub '*.txt')" "$R/beta/subway.txt" "--name applies to every pattern"

# ---- --printf against find -printf ---------------------------------------------

fmt='%y %m %U %G %i %n %D %s %T@ %C@ [%f] [%h] %p %%\t|\n'
FSI find --printf "$fmt" >"$T/pf.got"
find -P "$R" -printf "$fmt" >"$T/pf.exp"
is "$(sort "$T/pf.got")" "$(sort "$T/pf.exp")" "--printf: every directive as find -printf prints it"
is "$(FSI find --printf '%p\0' main.c | od -An -c | tr -s ' ')" \
	"$(printf '%s\0' "$R/beta/main.c" | od -An -c | tr -s ' ')" "--printf '\\0' escape"
is "$(FSI find --printf '%f' main.c)" "main.c" "--printf adds no newline"
is "$(FSI find --printf '%T@\n' main.c)" "1262304000.2500000000" "--printf %T@ (nanoseconds, then '0')"
is "$(FSI find --printf '%h|%f\n' --type d --regex "^$R\$")" "$T|tree" "--printf %h and %f of the root"

# ---- a closed pipe -------------------------------------------------------------

DB2=$T/db-bulk
fast_dir "$T/bulk"
mk_bulk "$T/bulk" 40 250 || bail "cannot build bulk tree"
DB=$DB2 FSI scan -q "$T/bulk" >/dev/null 2>&1
DB=$DB2 FSI find 2>"$T/pipe.err" | head -n 1 >"$T/pipe.out"
st=("${PIPESTATUS[@]}")
ok "find | head -1: no message on stderr" test ! -s "$T/pipe.err"
diag_file "$T/pipe.err"
like "${st[0]}" '^(0|141)$' "find | head -1: fsindex ends with 0 or SIGPIPE (got ${st[0]})"
is "${st[1]}" 0 "find | head -1: head succeeds"
is "$(cat "$T/pipe.out")" "$T/bulk" "find | head -1 prints the root first"
DB=$DB2 FSI find --printf '%p %s %T@\n' 2>"$T/pipe.err" | head -c 100 >/dev/null
ok "find --printf | head -c: no message on stderr" test ! -s "$T/pipe.err"

# ---- the default index location ------------------------------------------------

umask 022
( unset FSINDEX_DB; XDG_CACHE_HOME=$T/xdg1 fsi scan -q "$R" ) >/dev/null 2>&1
is "$?" 0 "scan with XDG_CACHE_HOME set and no --db: exit 0"
ok "index created at \$XDG_CACHE_HOME/fsindex" test -f "$T/xdg1/fsindex/data.mdb"
is "$(stat -c %a "$T/xdg1/fsindex" 2>&1)" 700 "\$XDG_CACHE_HOME/fsindex is mode 0700"
is "$( unset FSINDEX_DB; XDG_CACHE_HOME=$T/xdg1 fsi find one.txt 2>&1)" "$R/alpha/one.txt" \
	"find uses \$XDG_CACHE_HOME/fsindex too"

( unset FSINDEX_DB XDG_CACHE_HOME; HOME=$T/home fsi scan -q "$R" ) >/dev/null 2>&1
ok "without XDG_CACHE_HOME: ~/.cache/fsindex" test -f "$T/home/.cache/fsindex/data.mdb"
is "$(stat -c %a "$T/home/.cache/fsindex" 2>&1)" 700 "~/.cache/fsindex is mode 0700"
( unset FSINDEX_DB; XDG_CACHE_HOME= HOME=$T/home2 fsi scan -q "$R" ) >/dev/null 2>&1
ok "an empty XDG_CACHE_HOME counts as unset" test -f "$T/home2/.cache/fsindex/data.mdb"

( FSINDEX_DB=$T/envdb XDG_CACHE_HOME=$T/xdg2 fsi scan -q "$R" ) >/dev/null 2>&1
ok "FSINDEX_DB chooses the index" test -f "$T/envdb/data.mdb"
ok "FSINDEX_DB wins over XDG_CACHE_HOME" test ! -e "$T/xdg2/fsindex"
is "$(stat -c %a "$T/envdb" 2>&1)" 700 "the FSINDEX_DB directory is created 0700"
( FSINDEX_DB=$T/envdb2 fsi scan -q --db "$T/clidb/x/y" "$R" ) >/dev/null 2>&1
ok "--db wins over FSINDEX_DB (parents created)" test -f "$T/clidb/x/y/data.mdb"
ok "--db: FSINDEX_DB untouched" test ! -e "$T/envdb2"
is "$(stat -c %a "$T/clidb/x/y" 2>&1)" 700 "a --db directory is created 0700"
( umask 000; FSINDEX_DB=$T/envdb3 fsi scan -q "$R" ) >/dev/null 2>&1
is "$(stat -c %a "$T/envdb3" 2>&1)" 700 "0700 even with umask 000"

# ---- options that exclude each other ------------------------------------------------

# conflict DESC A B CMD ARGS...: CMD ARGS exits 2 with a message naming
# options A and B (as spelt), prints nothing on stdout and creates no index.
conflict() {
	local desc=$1 a=$2 b=$3
	shift 3
	"$@" >"$T/cf.out" 2>"$T/cf.err"
	local st=$?
	is "$st" 2 "$desc: exit 2"
	like "$(head -n 1 "$T/cf.err")" "(^|[^-a-z])$a and $b cannot be used together" \
		"$desc: the message names $a and $b"
	ok "$desc: nothing on stdout" test ! -s "$T/cf.out"
	diag_file "$T/cf.err"
}

# find: -0, --count, --printf and --json each choose the output; every pair.
find_modes=(-0 --count "--printf %p\n" --json)
for ((i = 0; i < ${#find_modes[@]}; i++)); do
	for ((j = 0; j < ${#find_modes[@]}; j++)); do
		[ "$i" -eq "$j" ] && continue
		a=${find_modes[i]} b=${find_modes[j]}
		conflict "find $a $b" "${a%% *}" "${b%% *}" FSI find $a $b one.txt
	done
done
conflict "find --null --count (the long spelling is named)" --null --count \
	FSI find --null --count
conflict "find --json PATTERN --count (options after a pattern)" --json --count \
	FSI find --json one.txt --count
# --help still wins.
FSI find --json --count --help >/dev/null 2>&1
is "$?" 0 "find --json --count --help: --help wins, exit 0"

# Combinations that mean something are still accepted.
is "$(FSI find --count --limit 2)" 2 "find --count --limit 2 counts up to 2"
is "$(FSI find -0 -0 one.txt | tr '\0' '\n')" "$R/alpha/one.txt" "find -0 -0: the same option twice is fine"
is "$(FSI find -0 --null one.txt | tr '\0' '\n')" "$R/alpha/one.txt" "find -0 --null: one option, two spellings"
is "$(FSI find --json --limit 1 --type f one.txt | grep -c '"path"')" 1 "find --json --limit --type"
is "$(FSI find --printf '%f\0' --name one.txt | tr '\0' '\n')" one.txt "find --printf with a NUL in the format"
is "$(FSI find --count -i --regex 'ONE\.TXT$')" 1 "find --count -i --regex"

# dups: every pair it refuses.  Each exits before anything is scanned.
D=$T/dtree
mkdir -p "$D" && echo same >"$D/a" && echo same >"$D/b"
conflict "dups -0 --json" -0 --json FSI dups -0 --json "$D"
conflict "dups --json --null" --json --null FSI dups --json --null "$D"
for a in --link --reflink --delete; do
	for b in --link --reflink --delete; do
		[ "$a" = "$b" ] && continue
		conflict "dups $a $b" "$a" "$b" FSI dups "$a" "$b" "$D"
	done
done
conflict "dups --no-index --db" --no-index --db fsi dups --no-index --db "$T/db-x" "$D"
conflict "dups -q -v" -q -v FSI dups -q -v "$D"
conflict "dups --verbose --quiet" --verbose --quiet FSI dups --verbose --quiet "$D"
for o in --keep=oldest --dry-run; do
	FSI dups "$o" "$D" >"$T/cf.out" 2>"$T/cf.err"
	is "$?" 2 "dups $o without an action: exit 2"
	like "$(head -n 1 "$T/cf.err")" "${o%%=*} needs --link, --reflink or --delete" \
		"dups $o without an action: says it needs one"
done
ok "refused dups options left both files alone" test -f "$D/a" -a -f "$D/b"
ok "refused dups options scanned nothing into a new index" test ! -e "$T/db-x"

# ... and what dups accepts.
FSI dups -q --json --summary "$D" >"$T/dj.out" 2>&1
is "$?" 0 "dups --json --summary: exit 0"
is "$(tail -n 1 "$T/dj.out")" '{"summary":{"groups":1,"files":1,"reclaimable":5}}' \
	"dups --json --summary: the summary is the last JSON object"
FSI dups -q -0 --summary --all-names "$D" >"$T/d0.out" 2>"$T/d0.err"
is "$?" 0 "dups -0 --summary --all-names: exit 0"
printf '%s\0%s\0\0' "$D/a" "$D/b" >"$T/d0.exp"
ok "dups -0 --summary: stdout holds the NUL-separated group only" cmp "$T/d0.out" "$T/d0.exp"
like "$(cat "$T/d0.err")" '1 groups, 1 duplicate files, 5 bytes reclaimable' \
	"dups -0 --summary: the summary goes to stderr"
FSI dups -q --json --delete --keep=newest --dry-run "$D" >"$T/dd.out" 2>"$T/dd.err"
is "$?" 0 "dups --json --delete --keep --dry-run: exit 0"
like "$(cat "$T/dd.err")" "would delete '" "... the action lines go to stderr"
ok "... and --dry-run deleted nothing" test -f "$D/a" -a -f "$D/b"
fsi dups -q --no-index -v "$D" >/dev/null 2>&1
is "$?" 2 "dups --no-index -q -v: still refused (-q and -v)"

# scan: -q and -v.
conflict "scan -q -v" -q -v FSI scan -q -v "$R"
conflict "scan --verbose -q" --verbose -q FSI scan --verbose -q "$R"

# ---- -v: one meaning, more detail on stderr; -vv adds debugging messages -------------

V=$T/vtree
mkdir -p "$V/d" && echo one >"$V/d/a" && echo one >"$V/b" && echo other >"$V/c"
nbelow=$(find -P "$V" -mindepth 1 | wc -l)
DB=$T/db-v FSI scan "$V" >/dev/null 2>"$T/v0.err"
is "$?" 0 "scan without -v: exit 0"
unlike "$(cat "$T/v0.err")" ' added, ' "scan without -v: no counts of what changed"
echo new >"$V/d/new"
DB=$T/db-v2 FSI scan -v "$V" >/dev/null 2>"$T/v1.err"
is "$?" 0 "scan -v: exit 0"
like "$(cat "$T/v1.err")" "^fsindex: scanned " "scan -v: the summary line is still there"
is "$(grep -cE '^fsindex: [0-9]+ added, [0-9]+ changed, [0-9]+ moved, [0-9]+ removed; ' "$T/v1.err")" 1 \
	"scan -v: one more line, counting what was added, changed, moved and removed"
like "$(cat "$T/v1.err")" "fsindex: $((nbelow + 1)) added, 0 changed, 0 moved, 0 removed;" \
	"scan -v into a new index: every entry below the root added (find counts $((nbelow + 1)))"
unlike "$(cat "$T/v1.err")" "index '" "scan -v: no debugging messages"
rm "$V/d/new"
DB=$T/db-v2 FSI scan --verbose --verbose "$V" >/dev/null 2>"$T/v2.err"
like "$(cat "$T/v2.err")" "fsindex: 0 added, [0-9]+ changed, 0 moved, 1 removed;" \
	"scan --verbose --verbose: the counts (one file removed since)"
like "$(cat "$T/v2.err")" "fsindex: index '$T/db-v2'" "scan -vv: debugging messages too (which index)"
DB=$T/db-v2 FSI scan -vq "$V" >/dev/null 2>&1
is "$?" 2 "scan -vq: -q and -v refused however they are spelt"

DB=$T/db-v FSI dups "$V" >/dev/null 2>"$T/dv0.err"
is "$?" 0 "dups without -v: exit 0 (a group)"
unlike "$(cat "$T/dv0.err")" 'duplicate search' "dups without -v: no timings"
DB=$T/db-v FSI dups -v "$V" >"$T/dv1.out" 2>"$T/dv1.err"
is "$?" 0 "dups -v: exit 0"
like "$(cat "$T/dv1.err")" '^fsindex: scan [0-9]+\.[0-9]{3} s, duplicate search [0-9]+\.[0-9]{3} s$' \
	"dups -v: how long the scan and the duplicate search took"
like "$(cat "$T/dv1.err")" ' share a size' "dups -v: the summary of the reads is still there"
unlike "$(cat "$T/dv1.err")" "index '" "dups -v: no debugging messages"
is "$(cat "$T/dv1.out")" "$V/b
$V/d/a" "dups -v: stdout is the same group as without"
DB=$T/db-v FSI dups -vv "$V" >/dev/null 2>"$T/dv2.err"
like "$(cat "$T/dv2.err")" "fsindex: index '$T/db-v'" "dups -vv: debugging messages too (which index)"
like "$(cat "$T/dv2.err")" 'duplicate search' "dups -vv: and the timings"
FSI find -v >/dev/null 2>&1
is "$?" 2 "find takes no -v (it prints no summary to add to)"

# ---- the length of an exclude pattern --------------------------------------------

long=$(head -c 4097 /dev/zero | tr '\0' x)
FSI scan -q --exclude "$long" "$R" >"$T/ex.out" 2>"$T/ex.err"
is "$?" 2 "scan --exclude of 4097 bytes: exit 2"
like "$(head -n 1 "$T/ex.err")" '--exclude: pattern too long \(max 4096 bytes\)' \
	"... the message says the pattern is too long and the maximum"
diag_file "$T/ex.err"
long=$(head -c 65536 /dev/zero | tr '\0' x)
DB=$T/db-ex FSI scan -q --exclude "$long" "$R" >"$T/ex.out" 2>"$T/ex.err"
is "$?" 2 "scan --exclude of 64 KiB: exit 2"
like "$(head -n 1 "$T/ex.err")" '--exclude: pattern too long \(max 4096 bytes\)' \
	"... the same message, not 'File name too long'"
ok "... and no index was created" test ! -e "$T/db-ex"
# The longest accepted pattern works: it excludes what it matches, through a '/'.
long="$R/alpha/$(head -c $((4096 - ${#R} - 12)) /dev/zero | tr '\0' '*')*.txt"
is "${#long}" 4096 "a pattern of exactly 4096 bytes (test setup)"
DB=$T/db-ex4 FSI scan -q --exclude "$long" "$R" >/dev/null 2>"$T/ex.err"
is "$?" 0 "scan --exclude of 4096 bytes: exit 0"
diag_file "$T/ex.err"
is "$(DB=$T/db-ex4 FSI find --type f alpha)" "$(ofind -path "$R/alpha/*" -type f ! -path "$R/alpha/*.txt")" \
	"... and it excludes the paths it matches"

# ---- -l: the long listing, not locate's --limit ------------------------------------

FSI find -l one.txt >"$T/l.out" 2>&1
is "$?" 0 "find -l PATTERN: the long listing (exit 0)"
like "$(cat "$T/l.out")" "^-[-rwxsS]{9} 1 .*one.txt\$" "... one line: mode, links, ..., path"
FSI find -l 1 >/dev/null 2>&1
is "$?" "$(FSI find 1 >/dev/null 2>&1; echo $?)" "find -l 1: 1 is a pattern, as without -l"

done_testing
