#!/bin/bash
# SPDX-License-Identifier: MIT
#
# visibility.sh - fsindex installed setgid, reading the system index: real
# users made by the test (useradd) see only what they could reach
# themselves, through find, --count, --json, --hash, dups --indexed and
# error messages; nothing is written with the group; the group is gone
# before any output; find without --db reads the user's own index and the
# system index, each path once.
#
# The system index lives at /var/lib/fsindex, compiled in: each command runs
# in a private mount namespace where the test's own directory is bind-mounted
# on /var/lib, so the machine's /var/lib is never touched.
#
# The oracle of what a user may see is the rule itself, applied by the user's
# own shell: every directory above the entry readable and searchable.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

is_root || skip_all "needs root: useradd, a setgid binary, mount namespaces"
for tool in useradd userdel groupadd groupdel setpriv unshare; do
	command -v $tool >/dev/null || skip_all "$tool(8) not found"
done
ldd "$FSINDEX" 2>/dev/null | grep -q 'lib[atl]san' &&
	skip_all "a sanitizer build (LeakSanitizer gives up under AT_SECURE)"
findmnt -n -o OPTIONS -T "$T" 2>/dev/null | grep -qw nosuid && skip_all "$T is mounted nosuid"
unshare -m --propagation private true 2>/dev/null || skip_all "no mount namespaces here"

# ---- users, group, the setgid binary -------------------------------------

tag=$$
GRP=fsivis$tag UA=fsiva$tag UB=fsivb$tag
TREE=$T/tree HA=$T/tree/home/$UA HB=$T/tree/home/$UB
mkdir -p "$T/tree/home"
groupadd -r "$GRP" || bail "groupadd $GRP failed"
at_exit groupdel "$GRP"
useradd -M -d "$HA" -s /bin/sh "$UA" || bail "useradd $UA failed"
at_exit userdel "$UA"
useradd -M -d "$HB" -s /bin/sh "$UB" || bail "useradd $UB failed"
at_exit userdel "$UB"

mkdir -m 755 "$T/bin"
cp "$FSINDEX" "$T/bin/fsindex"
chgrp "$GRP" "$T/bin/fsindex"
chmod 2755 "$T/bin/fsindex"
SG=$T/bin/fsindex

# ---- the tree ----------------------------------------------------------------

mkdir -p "$HA/proj" "$HB/inner" "$TREE/pub/many" "$TREE/xonly" "$TREE/ronly" "$TREE/xempty"
echo note >"$HA/a-note"
echo 'int main;' >"$HA/proj/a-src.c"
echo 'shared by alice and bob' >"$HA/a-dup"
echo 'shared by alice and bob' >"$HB/b-dup-XYZ"
echo 'secret' >"$HB/bob-secret-XYZ"
echo 'deeper' >"$HB/inner/bob-deeper-XYZ"
echo 'the same' >"$TREE/pub/common1"
echo 'the same' >"$TREE/pub/common2"
echo 'guessed content' >"$HA/a-guess"
echo 'guessed content' >"$TREE/pub/bob-unreadable"
echo x >"$TREE/pub/-leading-dash"
for i in $(seq 1 3000); do : >"$TREE/pub/many/entry-with-a-long-name-$i"; done
echo hidden >"$TREE/xonly/hidden-in-xonly"
echo hidden >"$TREE/xonly/hidden-twin"
echo listed >"$TREE/ronly/name-in-ronly"
chown -R "$UA:" "$HA"
chown -R "$UB:" "$HB" "$TREE/pub/bob-unreadable"
chmod 700 "$HA" "$HB"
chmod 600 "$TREE/pub/bob-unreadable"
chmod 711 "$TREE/xonly" "$TREE/xempty"
chmod 744 "$TREE/ronly"

# ---- the system index ----------------------------------------------------------

mkdir -p "$T/varlib/fsindex"
chgrp "$GRP" "$T/varlib/fsindex"
chmod 2750 "$T/varlib/fsindex"
SYS=/var/lib/fsindex

# sysns CMD...: CMD in a mount namespace of its own with $T/varlib on /var/lib.
sysns() {
	timeout -k 5 "$FSI_TIMEOUT" unshare -m --propagation private -- \
		sh -c 'mount --bind "$0" /var/lib || exit 99; exec "$@"' "$T/varlib" "$@"
}

# as USER CMD...: CMD as USER (own group, supplementary groups), in sysns.
as() {
	local u=$1
	shift
	sysns setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}

sysns "$FSINDEX" scan -q --hash --db "$SYS" "$TREE" >/dev/null 2>"$T/err"
is "$?" 0 "root scans the tree into the system index"
is "$(stat -c '%a %G' "$T/varlib/fsindex/data.mdb" "$T/varlib/fsindex/lock.mdb" | tr '\n' ' ')" \
	"640 $GRP 660 $GRP " "... its data file is the group's to read, its lock file to write"

# visible_oracle USER: every indexed path USER may see, by the rule, sorted.
visible_oracle() {
	find -P "$TREE" -print | sort >"$T/all"
	setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups -- bash -c '
		while IFS= read -r p; do
			d=${p%/*} ok=1
			while [ -n "$d" ]; do
				{ [ -r "$d" ] && [ -x "$d" ]; } || { ok=0; break; }
				d=${d%/*}
			done
			{ [ -r / ] && [ -x / ]; } || ok=0
			[ $ok = 1 ] && printf "%s\n" "$p"
		done' <"$T/all" | sort
}

# ---- what each user sees -------------------------------------------------------

for u in "$UA" "$UB"; do
	visible_oracle "$u" >"$T/want-$u"
	as "$u" "$SG" find --db "$SYS" >"$T/got-$u" 2>"$T/err-$u"
	is "$?" 0 "$u's find on the system index exits 0"
	sort -o "$T/got-$u" "$T/got-$u"
	if cmp -s "$T/got-$u" "$T/want-$u"; then
		pass "... and lists exactly what $u could reach ($(wc -l <"$T/want-$u") entries)"
	else
		fail "... and lists exactly what $u could reach"
		diff "$T/got-$u" "$T/want-$u" | head -20 | while IFS= read -r l; do diag "$l"; done
	fi
	is "$(cat "$T/err-$u")" "" "... saying nothing on stderr"
	is "$(as "$u" "$SG" find --db "$SYS" --count)" "$(wc -l <"$T/want-$u")" \
		"... and --count counts the same"
done
grep -q 'bob-secret-XYZ' "$T/want-$UB" && ! grep -q 'bob-secret-XYZ' "$T/want-$UA"
is "$?" 0 "(the oracle: bob's names are bob's only)"
unlike "$(cat "$T/got-$UA")" "XYZ|hidden-in-xonly|name-in-ronly" \
	"$UA learns no name under $UB's 0700 home, a 0711 or a 0744 directory"
like "$(cat "$T/got-$UA")" "$TREE/xonly" "... yet sees those directories themselves"
unlike "$(cat "$T/got-$UB")" "a-note|a-src" "$UB learns no name under $UA's home"
is "$(sysns "$SG" find --db "$SYS" --count)" "$(find -P "$TREE" | wc -l)" "root sees everything"

out=$(as "$UA" "$SG" find --db "$SYS" bob-secret 2>&1)
is "$?" 1 "$UA asking for bob's file by name: nothing matched (exit 1)"
is "$out" "" "... and not a word about it"
out=$(as "$UA" "$SG" find --db "$SYS" --json XYZ 2>&1)
is "$out" "" "... nor through --json"

as "$UA" "$SG" find --db "$SYS" --json pub/ >"$T/json" 2>&1
like "$(grep '"common1"\|common1' "$T/json")" '"hash"' "--json shows the hash of a file $UA may read"
unlike "$(grep 'bob-unreadable' "$T/json")" '"hash"' \
	"... but not of one in sight $UA may not read"
like "$(grep 'bob-unreadable' "$T/json")" '"size"' "... whose size and times stat(1) would show"

h=$(xxh128sum "$HA/a-dup" 2>/dev/null | cut -d' ' -f1)
is "$(as "$UA" "$SG" find --db "$SYS" --hash "$h")" "$HA/a-dup" \
	"find --hash: of two equal files $UA gets her own only"
h=$(xxh128sum "$HA/a-guess" 2>/dev/null | cut -d' ' -f1)
is "$(as "$UA" "$SG" find --db "$SYS" --hash "$h")" "$HA/a-guess" \
	"... and no file in sight she may not read, equal to hers"
is "$(sysns "$SG" find --db "$SYS" --hash "$h" | wc -l)" 2 "(root gets both)"

# ---- filters that look at other entries -------------------------------------------

as "$UA" "$SG" find --db "$SYS" --dup >"$T/dup" 2>&1
like "$(cat "$T/dup")" "pub/common1" "find --dup: a file whose twin she may read is listed"
unlike "$(cat "$T/dup")" "a-dup|a-guess|XYZ|bob-unreadable" \
	"... one whose only twin is hidden from her or unreadable is not"
like "$(sysns "$SG" find --db "$SYS" --dup)" "a-dup" "(root sees a-dup's twin)"
is "$(as "$UA" "$SG" find --db "$SYS" --empty --type d | grep -c xempty)" 0 \
	"find --empty: a 0711 directory she may not list is not said to be empty"
is "$(sysns "$SG" find --db "$SYS" --empty --type d | grep -c xempty)" 1 "(it is, for root)"
out=$(as "$UA" "$SG" find --db "$SYS" --under "$HB" 2>&1)
is "$?:$out" "0:$HB" "find --under bob's home: the directory she sees, nothing in it"

# ---- du ------------------------------------------------------------------------------

for opt in "" --apparent-size; do
	# du(1) goes in readdir order, fsindex du by name: compare sorted.
	is "$(as "$UA" "$SG" du --db "$SYS" $opt "$TREE" | sort)" \
		"$(setpriv --reuid="$UA" --regid="$(id -g "$UA")" --init-groups -- \
			du -B1 $opt "$TREE" 2>/dev/null | sort)" \
		"fsindex du ${opt:+$opt }as $UA: what du(1) run by her counts, directory by directory"
done
unlike "$(as "$UA" "$SG" du --db "$SYS" "$HB" 2>&1)" "inner" "... and nothing below bob's home is named"
is "$(sysns "$SG" du --db "$SYS" -d 0 "$TREE")" "$(du -B1 -s "$TREE")" "(root's is du's of everything)"

# ---- dups --indexed ---------------------------------------------------------------

as "$UA" "$SG" dups --indexed --db "$SYS" "$TREE" >"$T/dups" 2>"$T/dups.err"
is "$?" 0 "$UA's dups --indexed on the system index exits 0"
like "$(cat "$T/dups")" "common1" "... reports the group she may see"
unlike "$(cat "$T/dups" "$T/dups.err")" "XYZ|bob-unreadable|a-dup|a-guess" \
	"... and no group with a file she may not reach or read, nor its name"
out=$(as "$UA" "$SG" dups --indexed --db "$SYS" "$HB/inner" 2>&1)
is "$?" 2 "dups --indexed of a directory below bob's home fails"
unlike "$out" "bob-deeper" "... naming nothing in it"
out=$(as "$UA" "$SG" dups --indexed --db "$SYS" "$TREE/xonly" 2>&1)
is "$?" 1 "dups --indexed of a directory she may enter but not list: no duplicates (exit 1)"
unlike "$out" "hidden" "... though two files in it are equal, and no name of them"
is "$(sysns "$SG" dups --indexed --db "$SYS" "$TREE/xonly" 2>/dev/null | grep -c hidden)" 2 \
	"(root gets the pair)"

# ---- nothing written with the group -----------------------------------------------

sum=$(cksum <"$T/varlib/fsindex/data.mdb")
for cmd in "scan -q --db $SYS $TREE/pub" "rescan -q --db $SYS $TREE/pub" \
	"dups --db $SYS $TREE/pub"; do
	out=$(as "$UA" "$SG" $cmd 2>&1)
	is "$?" 2 "$UA: fsindex $cmd is refused"
	like "$out" "'$SYS'.*Permission denied" "... naming the index and why"
done
is "$(cksum <"$T/varlib/fsindex/data.mdb")" "$sum" "... and the index is byte for byte as it was"
is "$(sysns "$SG" find --db "$SYS" --count)" "$(find -P "$TREE" | wc -l)" "... and still opens"

# The group is gone by the time anything is printed: stop the output in a
# full pipe and look at the process.
mkfifo "$T/fifo"
exec 7<>"$T/fifo"
as "$UA" "$SG" find --db "$SYS" >"$T/fifo" 2>/dev/null &
bg=$!
track_pid $bg
gid=$(id -g "$UA") pid=
for _ in $(seq 1 100); do
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$SG" ] && pid=${p#/proc/}
	done
	[ -n "$pid" ] && grep -q '^State:.*S' "/proc/$pid/status" 2>/dev/null && break
	sleep 0.1
done
is "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)" \
	"$gid $gid $gid $gid" \
	"while it prints, the setgid fsindex holds $UA's group only (real, effective, saved, fs)"
kill $bg $pid 2>/dev/null
wait $bg 2>/dev/null
exec 7<&-

# ---- the environment is not read ---------------------------------------------

out=$(FSINDEX_DB=$T/nowhere as "$UA" "$FSINDEX" find --count 2>&1)
like "$out" "no index at '$T/nowhere'" "(without setgid, FSINDEX_DB is read)"
out=$(FSINDEX_DB=$T/nowhere as "$UA" "$SG" find --count 2>&1)
is "$out" "$(wc -l <"$T/want-$UA")" \
	"a setgid fsindex reads no FSINDEX_DB: its default is the user's and the system index"

# ---- the user's own index beside the system's -----------------------------------

mkdir -p "$HA/.cache"
chown "$UA:" "$HA/.cache"
as "$UA" "$FSINDEX" scan -q --db "$HA/.cache/fsindex" "$HA/proj" >/dev/null 2>"$T/err"
is "$?" 0 "$UA scans her project into her own index"
echo new >"$HA/proj/made-after-the-system-scan"
chown "$UA:" "$HA/proj/made-after-the-system-scan"
as "$UA" "$FSINDEX" rescan -q --db "$HA/.cache/fsindex" "$HA/proj" >/dev/null 2>&1
as "$UA" env -u FSINDEX_DB -u XDG_CACHE_HOME "$SG" find >"$T/both" 2>"$T/err"
is "$?" 0 "find without --db reads both indexes"
{ cat "$T/want-$UA"; echo "$HA/proj/made-after-the-system-scan"; } | sort >"$T/want-both"
sort -o "$T/both" "$T/both"
if cmp -s "$T/both" "$T/want-both"; then
	pass "... the system index's entries she may see and her own, each path once"
else
	fail "... the system index's entries she may see and her own, each path once"
	diff "$T/both" "$T/want-both" | head -10 | while IFS= read -r l; do diag "$l"; done
fi
is "$(as "$UA" env -u FSINDEX_DB -u XDG_CACHE_HOME "$SG" find --count)" "$(wc -l <"$T/want-both")" \
	"... and --count counts each once"
out=$(as "$UA" env -u FSINDEX_DB -u XDG_CACHE_HOME HOME="$HA" "$FSINDEX" find 2>"$T/err")
is "$?:$(cat "$T/err")" "0:" "without setgid the system index is not hers to read: skipped quietly"
is "$out" "$(as "$UA" "$FSINDEX" find --db "$HA/.cache/fsindex")" "... and her own is listed"

done_testing
