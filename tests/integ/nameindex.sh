#!/bin/bash
# SPDX-License-Identifier: MIT
#
# nameindex.sh - the name index (`gram`) on real scans and under the daemon.
# Oracles: the full pass (FSINDEX_DEBUG_NAMEINDEX=off), and find(1)'s list of
# the tree: after random edits and a rescan, every name on disk is found by
# a pattern of its own (through the index: the trace line says so) and no
# removed name is; fsindexd's live updates (create, rename of a file and of a
# directory, delete) show up in finds answered from the index.
# (tests/unit/test-names.c has the random-pattern property test.)

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
NL=$top_builddir/tests/helpers/notify-listen

R=$T/tree
mk_weird_tree "$R/weird" || bail "cannot build the tree"
# Every byte but NUL and '/' inside a name, between two letters.
mkdir -p "$R/bytes" "$R/proj/src/lib" "$R/other/src"
for b in $(seq 1 255); do
	[ "$b" -eq 47 ] && continue
	printf -v name '%b' "n\\x$(printf %02x "$b")q"
	: >"$R/bytes/$name" || bail "cannot create byte $b"
done
for i in $(seq 1 60); do
	: >"$R/proj/src/lib/mod$i.c"
	: >"$R/other/src/Mod$i.C"
done
scan_ok "scan of a tree with names of every byte" "$R"

# same_answer DESC FIND-ARGS...: index (used, per the trace) and full pass agree.
same_answer() {
	local desc=$1
	shift
	FSINDEX_DEBUG_NAMEINDEX=off FSI find "$@" >"$T/sa.full" 2>&1
	FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find "$@" >"$T/sa.idx" 2>"$T/sa.err"
	if grep -q '^fsindex: name index: ' "$T/sa.err" && cmp -s "$T/sa.full" "$T/sa.idx" &&
		[ -s "$T/sa.full" ]; then
		pass "$desc"
	else
		fail "$desc"
		diag "find $*: $(wc -l <"$T/sa.full") lines in the full pass, $(wc -l <"$T/sa.idx") from the index"
		diag_file "$T/sa.err"
	fi
}
same_answer "a substring crossing '/' (proj/src)" proj/src
same_answer "a substring of a directory's name lists its subtree" /src/
same_answer "-i folds: MOD1 finds mod1* and Mod1*" -i MOD1
same_answer "a glob with literals" '*/src/*od1?.[cC]'
same_answer "a regex with a literal" --regex 'mod[0-9]+\.c$'
same_answer "--name with a substring" --name od5
same_answer "--type d with a substring" --type d src
same_answer "a byte above 0x7f in a name" $'n\xe9q'
same_answer "a newline in a name" $'n\nq'
FSINDEX_DEBUG_NAMEINDEX=trace FSI find mod >"$T/many.out" 2>"$T/many.err"
FSINDEX_DEBUG_NAMEINDEX=off FSI find mod >"$T/many.full"
like "$(cat "$T/many.err")" "name index not used: 120 candidates for 'mod' of [0-9]+ entries" \
	"candidates over a twenty-fourth of the entries: the full pass instead"
ok "... which lists the same" cmp -s "$T/many.out" "$T/many.full"
FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find --regex '^/.*[0-9]$' >/dev/null 2>"$T/nolit.err"
is "$(grep -c 'name index' "$T/nolit.err")" 0 "a regex without a literal is a full pass"
FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find ab >/dev/null 2>"$T/short.err"
is "$(grep -c 'name index' "$T/short.err")" 0 "a pattern shorter than a trigram is a full pass"

# own_pattern NAME: a --name pattern that matches NAME (a glob escaped when it has a wildcard).
own_pattern() {
	case $1 in
	*[*?[]*) printf '%s' "$1" | sed 's/[][*?\\]/\\&/g' ;;
	*) printf '%s' "$1" ;;
	esac
}
# check_names LIST WANT: for each path of the NUL-separated LIST whose name
# has 3 bytes or more, find --name <own pattern> through the index lists it
# (WANT=1) or does not (WANT=0).  Prints the paths that are wrong.
check_names() {
	local p name pat
	while IFS= read -r -d '' p; do
		name=${p##*/}
		[ ${#name} -ge 3 ] || continue
		pat=$(own_pattern "$name"; printf x)
		pat=${pat%x}
		FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find --name -0 -- "$pat" >"$T/cn.out" 2>"$T/cn.err"
		grep -q '^fsindex: name index: ' "$T/cn.err" || { printf '%q (no index)\n' "$p"; continue; }
		if tr '\0' '\n' <"$T/cn.out" | grep -qxF -- "$p"; then
			[ "$2" = 1 ] || printf '%q (found)\n' "$p"
		else
			[ "$2" = 0 ] || printf '%q (missing)\n' "$p"
		fi
	done <"$1"
}

# Random edits: renames of files and directories, deletes, new files, then a rescan.
RANDOM=42
find "$R" -mindepth 1 -print0 | sort -z >"$T/before"
mv -- "$R/proj/src" "$R/proj/source-renamed"
mv -- "$R/other/src/Mod7.C" "$R/other/src/Renamed-seven.C"
rm -rf -- "$R/weird/dir with space" "$R/other/src/Mod1"[0-9].C
for i in $(seq 1 20); do
	f=$(find "$R/bytes" -type f | shuf -n 1 --random-source=<(yes))
	[ -e "$f" ] || continue
	if [ $((RANDOM % 2)) -eq 0 ]; then rm -f -- "$f"; else mv -- "$f" "$f.moved$i"; fi
done
mkdir -p "$R/newdir/inner"
: >"$R/newdir/inner/freshly-made-$RANDOM"
scan_ok "rescan after random edits" "$R"
find "$R" -mindepth 1 -print0 | sort -z >"$T/after"
# What was there before and is not now.
comm -z -23 "$T/before" "$T/after" >"$T/removed"
check_names "$T/after" 1 >"$T/bad.present"
is "$(cat "$T/bad.present")" "" "after edits and a rescan, every name on disk is found by its own pattern ($(tr -cd '\0' <"$T/after" | wc -c) entries)"
check_names "$T/removed" 0 >"$T/bad.removed"
is "$(cat "$T/bad.removed")" "" "... and no removed name is ($(tr -cd '\0' <"$T/removed" | wc -c) removed or moved away)"
same_answer "a substring crossing the renamed directory" proj/source-renamed/lib/mod3

# ---- live updates under the daemon ---------------------------------------------

if [ ! -x "$FSINDEXD" ] || [ ! -x "$NL" ]; then
	skip "no fsindexd or test helpers" 6
	done_testing
	exit 0
fi
L=$T/live
mkdir -p "$L/keep/deep" "$T/run"
: >"$L/keep/deep/deep-file-one"
export XDG_RUNTIME_DIR=$T/run
printf '[index]\nroots = %s\ndb = %s\n' "$L" "$DB" >"$T/fsindex.conf"
"$NL" "$T/d.sock" >"$T/d.notify" &
track_pid $!
n=100
while [ ! -S "$T/d.sock" ] && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
NOTIFY_SOCKET=$T/d.sock "$FSINDEXD" --user --config "$T/fsindex.conf" 2>"$T/d.err" &
dpid=$!
track_pid $dpid
wait_for "$T/d.notify" 'STATUS=watching 1 root' || { diag_file "$T/d.err"; bail "the daemon did not start"; }

# by_index NAME PATH: find NAME answers from the index and lists exactly PATH.
by_index() {
	local out
	out=$(FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find -- "$1" 2>&1) || return 1
	[ "$out" = "fsindex: name index: 1 candidates for '$3'"$'\n'"$2" ]
}
# gone NAME: find NAME (through the index) lists nothing.
gone() {
	local out
	out=$(FSINDEX_DEBUG_NAMEINDEX=force,trace FSI find -- "$1" 2>&1)
	[ "$out" = "fsindex: name index: 0 candidates for '$2'" ]
}
: >"$L/created-live-xyzzy"
poll_until "a file created under the daemon is found through the name index" \
	by_index xyzzy "$L/created-live-xyzzy" xyzzy
mv -- "$L/created-live-xyzzy" "$L/renamed-live-plugh"
poll_until "renamed: the new name is found" by_index plugh "$L/renamed-live-plugh" plugh
poll_until "... and the old one is not" gone xyzzy xyzzy
mv -- "$L/keep" "$L/kept-elsewhere"
poll_until "a directory renamed: a file below is found under the new path" \
	by_index deep-file-one "$L/kept-elsewhere/deep/deep-file-one" deep-file-one
rm -f -- "$L/renamed-live-plugh"
poll_until "deleted: its name is gone from the index" gone plugh plugh
rm -rf -- "$L/kept-elsewhere"
poll_until "a deleted subtree: names below it are gone too" gone deep-file-one deep-file-one
kill -TERM "$dpid"
wait "$dpid"
done_testing
