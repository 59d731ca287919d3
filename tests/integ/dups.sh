#!/bin/bash
# SPDX-License-Identifier: MIT
#
# dups.sh - `fsindex dups` on trees with known groups: exact copies in
# different directories; same size, different content; same first 4 KiB,
# different tail; same head and tail, different middle; hard links (one
# file, never its own duplicate; --all-names lists every name); empty files
# (only with --empty); two >2 GiB sparse files of zeros; unreadable files (as
# an unprivileged user: named on stderr, not grouped); names with newlines and
# invalid UTF-8 (-0, --json).  The groups are asserted exactly, and
# cross-checked with jdupes as sets of inodes.  Output formats, ordering,
# --summary, --min-size, --verify, exit status; a second run reads no
# content (strace); --no-index leaves nothing behind.  Actions on copies:
# --link, --delete --keep=first|oldest|newest, --dry-run, --link across
# filesystems, --reflink on tmpfs (refused) and on a loopback XFS (shared
# extents).

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

have_json_pp || bail "perl with JSON::PP not found"
command -v xxh128sum >/dev/null || bail "xxh128sum not found (Debian package xxhash)"

# groups0 PATH... [--] PATH...: the -0 output of these groups ("--" between
# groups): a NUL after each path, one more after each group.
groups0() {
	local p
	for p in "$@"; do
		if [ "$p" = -- ]; then printf '\0'; else printf '%s\0' "$p"; fi
	done
	[ $# -gt 0 ] && printf '\0'
}

# plain_of FILE: a -0 listing as plain output (groups separated by a blank
# line), without a blank line after the last group.
plain_of() {
	tr '\0' '\n' <"$1" | sed -e '${/^$/d}'
}

# strip_last_blank: the plain output, the blank line after the last group
# removed if there is one (both forms are accepted).
strip_last_blank() {
	sed -e '${/^$/d}'
}

# inode_groups: a -0 group listing on stdin -> one line per group, the
# group's distinct inode numbers sorted and comma-separated; lines sorted.
inode_groups() {
	perl -e '
		local $/ = "\0";
		my (@g, @out);
		my $flush = sub {
			my %i = map { ((lstat $_)[1] // "missing:$_") => 1 } @g;
			push @out, join(",", sort keys %i) if @g;
			@g = ();
		};
		while (my $p = <STDIN>) {
			chomp $p;
			if ($p eq "") { $flush->(); next }
			push @g, $p;
		}
		$flush->();
		print "$_\n" for sort @out;
	'
}

# dups_run OUT ERR ARGS...: fsindex dups ARGS (timeout), stdout/stderr to
# files, $rc set.
dups_run() {
	local out=$1 err=$2
	shift 2
	timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" dups "$@" >"$out" 2>"$err"
	rc=$?
}

# same0 DESC GOT EXP: two -0 group listings are identical.
same0() {
	same_bytes "$@"
}

# no_errors DESC ERRFILE: stderr names no unreadable file, no failure.
no_errors() {
	if grep -vE '^fsindex: scanned [0-9]+ dirs, [0-9]+ files, 0 errors in ' "$2" |
		grep -Eiq 'cannot|fail|left out|changed|error|warning'; then
		fail "$1"
		diag_file "$2"
		return 1
	fi
	pass "$1"
}

rand() {
	head -c "$1" /dev/urandom
}

# ---- the main tree -------------------------------------------------------------

D=$T/d
fast_dir "$D"
(
	cd "$D" || exit 1
	mkdir -p big mid a b c/sub hl nl solo samesize head tiny e
	rand 300000 >big/one && cp big/one big/two
	# Same first and last 4 KiB, different middle: m2 differs from m1 = m3.
	rand 4096 >"$T/hd" && rand 4096 >"$T/tl"
	cat "$T/hd" <(rand 15808) "$T/tl" >mid/m1 && cp mid/m1 mid/m3
	cat "$T/hd" <(rand 15808) "$T/tl" >mid/m2
	rand 10000 >a/copy && cp a/copy b/copy && cp a/copy c/sub/copy
	# A hard-linked inode whose first name (a-link) sorts before its
	# other name (m), and a copy (c) sorting between them.
	rand 6000 >hl/m && ln hl/m hl/a-link && cp hl/m hl/c
	rand 3333 >nl/'q"b\s' && cp nl/'q"b\s' nl/$'x\ny' && cp nl/'q"b\s' nl/$'\xff\xfe'
	rand 7777 >solo/hardonly && ln solo/hardonly solo/hardonly-2
	rand 5000 >samesize/s1 && rand 5000 >samesize/s2
	# Same first 4 KiB, different tail; h3 differs from h1 in its last byte only.
	cat "$T/hd" <(rand 7904) >head/h1 && cat "$T/hd" <(rand 7904) >head/h2
	head -c 11999 head/h1 >head/h3
	if [ "$(tail -c 1 head/h1)" = A ]; then printf B >>head/h3; else printf A >>head/h3; fi
	printf x >tiny/t1 && printf x >tiny/t2
	: >e/empty1 && : >e/empty2 && : >a/empty
	ln -s big/one link-to-big && mkfifo fifo
) || bail "cannot build the tree"

S=$T/s
fast_dir "$S"
SPARSE=$(((2 << 30) + 4097))
truncate -s "$SPARSE" "$S/sp1" "$S/sp2" "$S/sp3"
printf 'x' | dd of="$S/sp3" bs=1 seek=$((SPARSE - 1)) conv=notrunc status=none # same head, other tail

# Age everything: no timestamp is "racily clean" for the runs below.
find -P "$D" "$S" -exec touch -h -d '2020-02-02 12:00:00.5 UTC' {} +
sleep 1.1

G_BIG=("$D/big/one" "$D/big/two")
G_MID=("$D/mid/m1" "$D/mid/m3")
G_3=("$D/a/copy" "$D/b/copy" "$D/c/sub/copy")
G_NL=("$D/nl/q\"b\\s" "$D/nl/x"$'\n'"y" "$D/nl/"$'\xff\xfe')
G_HL=("$D/hl/a-link" "$D/hl/c")
G_HL_ALL=("$D/hl/a-link" "$D/hl/m" "$D/hl/c")
G_TINY=("$D/tiny/t1" "$D/tiny/t2")
G_EMPTY=("$D/a/empty" "$D/e/empty1" "$D/e/empty2")
groups0 "${G_BIG[@]}" -- "${G_MID[@]}" -- "${G_3[@]}" -- "${G_NL[@]}" -- \
	"${G_HL[@]}" -- "${G_TINY[@]}" >"$T/exp.main"
# 6 groups; duplicate files = files beyond the first of each group;
# reclaimable = size x (files - 1).
SUMMARY_MAIN="6 8 $((300000 + 24000 + 20000 + 6666 + 6000 + 1))"

# ---- first run: exact groups ---------------------------------------------------------

DB=$T/db
dups_run "$T/out" "$T/err" --db "$DB" -0 "$D"
is "$rc" 0 "dups -0 on the main tree exits 0 (duplicates found)"
same0 "dups -0: exactly the expected groups, in the expected order" "$T/out" "$T/exp.main"
no_errors "... and no error on stderr" "$T/err"

# jdupes (byte-compares, hard links not duplicates, empty files ignored, as here).
if command -v jdupes >/dev/null; then
	jdupes -r -q -0 "$D" >"$T/jdupes.out" 2>"$T/jdupes.err"
	inode_groups <"$T/jdupes.out" >"$T/jdupes.inodes"
	inode_groups <"$T/out" >"$T/ours.inodes"
	if cmp -s "$T/ours.inodes" "$T/jdupes.inodes"; then
		pass "same groups as jdupes -r, as sets of inodes ($(wc -l <"$T/ours.inodes") groups)"
	else
		fail "same groups as jdupes -r, as sets of inodes"
		diff "$T/jdupes.inodes" "$T/ours.inodes" | sed 's/^/#   /'
		diag "('<' jdupes, '>' fsindex)"
	fi
else
	skip "same groups as jdupes -r" "jdupes not installed"
fi

# ---- a second run reads no content -------------------------------------------------------

if command -v strace >/dev/null; then
	timeout -k 5 "$FSI_TIMEOUT" env "$STRACE_ENV" strace -f -qq -y -xx -e trace=$STRACE_IO -o "$T/st" \
		"$FSINDEX" dups --db "$DB" --io=sync -0 "$D" >"$T/out2" 2>"$T/err2"
	is "$?" 0 "second dups (under strace, --io=sync) exits 0"
	same0 "... and prints the same groups" "$T/out2" "$T/exp.main"
	strace_content_files "$T/st" "$D" >"$T/st.files"
	is "$(count0 "$T/st.files")" 0 "... and opens or reads no regular file of the tree (hashes reused from the index)" ||
		nul_list "$T/st.files" | head -n 20 | sed 's/^/#   /'
	ok "the trace is not empty: it shows the tree being opened" \
		env D="$D" perl -ne 's/\\x([0-9a-f]{2})/chr hex $1/ge; $n++ if /^\d+\s+(<\.\.\. )?openat/ && index($_, $ENV{D}) >= 0; END { exit !$n }' "$T/st"
else
	skip "a second dups under strace reads no content" "strace not installed (Debian package strace; sh tests/deps.sh installs it)"
fi

# ---- output formats ------------------------------------------------------------------------

dups_run "$T/out" "$T/err" --db "$DB" "$D/big" "$D/mid" "$D/tiny" "$D/hl"
is "$rc" 0 "plain output: exit 0"
is "$(strip_last_blank <"$T/out")" \
	"$(groups0 "${G_BIG[@]}" -- "${G_MID[@]}" -- "${G_HL[@]}" -- "${G_TINY[@]}" >"$T/e" && plain_of "$T/e")" \
	"plain output: one path per line, groups separated by a blank line, most reclaimable first"

dups_run "$T/out" "$T/err" --db "$DB" -0 "$D/c" "$D/b" "$D/a"
groups0 "$D/c/sub/copy" "$D/b/copy" "$D/a/copy" >"$T/e"
same0 "within a group: PATH-argument order first, then byte order" "$T/out" "$T/e"

dups_run "$T/out" "$T/err" --db "$DB" --json "$D"
is "$rc" 0 "--json: exit 0"
json_lines groups <"$T/out" >"$T/got" 2>"$T/problems"
ok "--json: strict JSON objects with size, hash, paths (paths_b64 where needed)" test ! -s "$T/problems" ||
	diag_file "$T/problems"
same0 "--json: the same groups, exact bytes via paths_b64" "$T/got" "$T/exp.main"
is "$(grep -c '"paths_b64"' "$T/out")" 1 "--json: paths_b64 only on the group with an invalid UTF-8 name"
like "$(grep '"paths_b64"' "$T/out")" '"paths_b64":\[null,null,"[A-Za-z0-9+/=]+"\]' \
	"--json: paths_b64 has null for valid names and base64 for the invalid one"
like "$(grep -F '3333' "$T/out")" '/x\\ny"' "--json: a newline in a name is escaped as \\n"
json_lines groupmeta <"$T/out" 2>/dev/null >"$T/gm"
exp_gm=
for f in "${G_BIG[0]}" "${G_MID[0]}" "${G_3[0]}" "${G_NL[0]}" "${G_HL[0]}" "${G_TINY[0]}"; do
	h=$(xxh128sum <"$f")
	exp_gm+="$(stat -c %s "$f") ${h%% *}"$'\n'
done
awk '{ print $1, $2 }' "$T/gm" >"$T/gm2"
printf '%s' "$exp_gm" | awk '{ print $1, $2 }' >"$T/gm.exp"
ok "--json: each group's size and hash (= xxh128sum of its files)" cmp -s "$T/gm2" "$T/gm.exp" ||
	diff "$T/gm.exp" "$T/gm2" | sed 's/^/#   /'

dups_run "$T/out" "$T/err" --db "$DB" --summary "$D/big" "$D/mid" "$D/a" "$D/b" "$D/c" "$D/hl" "$D/tiny" "$D/nl"
read -r g f b <<<"$SUMMARY_MAIN"
is "$(tail -n 1 "$T/out")" "$g groups, $f duplicate files, $b bytes reclaimable" \
	"--summary: last line \"N groups, N duplicate files, N bytes reclaimable\""
dups_run "$T/out" "$T/err" --db "$DB" --json --summary "$D"
is "$(json_lines summary <"$T/out" 2>/dev/null)" "$SUMMARY_MAIN" "--json --summary: a final {\"summary\":{groups,files,reclaimable}}"
like "$(tail -n 1 "$T/out")" '^\{"summary":' "... as the last line"

# ---- options ------------------------------------------------------------------------------

dups_run "$T/out" "$T/err" --db "$DB" -0 --empty "$D"
cat "$T/exp.main" >"$T/e" && groups0 "${G_EMPTY[@]}" >>"$T/e"
same0 "--empty: the empty files form one more group, last (0 bytes reclaimable)" "$T/out" "$T/e"

dups_run "$T/out" "$T/err" --db "$DB" -0 --all-names "$D"
groups0 "${G_BIG[@]}" -- "${G_MID[@]}" -- "${G_3[@]}" -- "${G_NL[@]}" -- \
	"${G_HL_ALL[@]}" -- "${G_TINY[@]}" >"$T/e"
same0 "--all-names: every name of a hard-linked inode, on consecutive lines" "$T/out" "$T/e"
dups_run "$T/out" "$T/err" --db "$DB" --json --all-names "$D/hl"
is "$(json_lines groups <"$T/out" 2>/dev/null | tr '\0' '\n')" \
	"$(printf '%s\n' "${G_HL_ALL[@]}")" "--json --all-names: paths lists every name"

dups_run "$T/out" "$T/err" --db "$DB" -0 --min-size 10000 "$D"
groups0 "${G_BIG[@]}" -- "${G_MID[@]}" -- "${G_3[@]}" >"$T/e"
same0 "--min-size 10000: files of 10000 bytes and more" "$T/out" "$T/e"
dups_run "$T/out" "$T/err" --db "$DB" -0 --min-size 10001 "$D"
groups0 "${G_BIG[@]}" -- "${G_MID[@]}" >"$T/e"
same0 "--min-size 10001" "$T/out" "$T/e"
dups_run "$T/out" "$T/err" --db "$DB" --min-size 300001 "$D"
is "$rc/$(wc -c <"$T/out")" "1/0" "--min-size above every group: exit 1, no output"

dups_run "$T/out" "$T/err" --db "$DB" -0 --verify "$D"
is "$rc" 0 "--verify: exit 0"
same0 "--verify: the same groups" "$T/out" "$T/exp.main"

dups_run "$T/out" "$T/err" --db "$DB" "$D/samesize" "$D/head" "$D/solo" "$D/e"
is "$rc" 1 "same size, same head, hard links, empty files: no duplicates, exit 1"
is "$(cat "$T/out")" "" "... and nothing on stdout"
no_errors "... and no error" "$T/err"

dups_run "$T/out" "$T/err" --db "$DB" -0 -q "$D"
is "$(cat "$T/err")" "" "-q: nothing on stderr"

dups_run "$T/out" "$T/err" --db "$DB" -0 "$T/no/such/dir"
is "$rc" 2 "a missing PATH: exit 2"
dups_run "$T/out" "$T/err" --db "$DB" --link --delete "$D"
is "$rc" 2 "--link with --delete: usage error, exit 2"

# --io=sync and --io=uring (fresh indexes): the same groups.
dups_run "$T/out" "$T/err" --db "$T/db-sync" --io=sync -0 "$D"
same0 "--io=sync, fresh index: the same groups" "$T/out" "$T/exp.main"
like "$(cat "$T/err")" 'with pread' "--io=sync reports pread"
if timeout 20 "$FSINDEX" scan --db "$T/db-probe" -q --hash --io=uring "$D/tiny" >/dev/null 2>&1; then
	dups_run "$T/out" "$T/err" --db "$T/db-uring" --io=uring -0 "$D"
	same0 "--io=uring, fresh index: the same groups" "$T/out" "$T/exp.main"
	like "$(cat "$T/err")" 'with io_uring' "--io=uring reports io_uring"
	dups_run "$T/out" "$T/err" --db "$T/db-auto" -0 "$D"
	like "$(cat "$T/err")" 'with io_uring' "io_uring works here, so dups with --io=auto uses it"
else
	skip "--io=uring: the same groups" "io_uring not usable here"
fi
NOURING=$top_builddir/tests/helpers/no-uring
if [ -x "$NOURING" ] && { "$NOURING" true 2>/dev/null; [ $? -ne 125 ]; }; then
	timeout -k 5 "$FSI_TIMEOUT" "$NOURING" "$FSINDEX" dups --db "$T/db-nouring" -0 "$D" >"$T/out" 2>"$T/err"
	is "$?" 0 "under no-uring (io_uring refused by seccomp): exit 0"
	same0 "... the same groups" "$T/out" "$T/exp.main"
	is "$(grep -c 'io_uring unavailable' "$T/err")" 1 "... and io_uring unavailable said once"
else
	skip "dups under no-uring" "helper missing or seccomp unavailable"
fi

# ---- where the index lives ------------------------------------------------------------------

mkdir -p "$T/ni-tmp" "$T/ni-home"
(
	unset FSINDEX_DB
	export XDG_CACHE_HOME=$T/ni-xdg HOME=$T/ni-home TMPDIR=$T/ni-tmp
	timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" dups --no-index -0 "$D" >"$T/out" 2>"$T/err"
)
is "$?" 0 "--no-index: exit 0"
same0 "--no-index: the same groups" "$T/out" "$T/exp.main"
ok "--no-index: no per-user index created (XDG_CACHE_HOME untouched)" test ! -e "$T/ni-xdg"
is "$(ls -A "$T/ni-home")" "" "--no-index: nothing in HOME"
is "$(ls -A "$T/ni-tmp")" "" "--no-index: the temporary index in TMPDIR is removed"

(
	unset FSINDEX_DB
	export XDG_CACHE_HOME=$T/user-xdg
	timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" dups -0 "$D/a" "$D/b" >"$T/out" 2>"$T/err"
)
is "$?" 0 "dups without --db: exit 0"
ok "... records into the per-user index \$XDG_CACHE_HOME/fsindex" test -f "$T/user-xdg/fsindex/data.mdb"
is "$(stat -c %a "$T/user-xdg/fsindex" 2>/dev/null)" 700 "... created mode 0700"
is "$(env -u FSINDEX_DB XDG_CACHE_HOME="$T/user-xdg" "$FSINDEX" find --json "$D/a/copy" | json_lines hashes 2>/dev/null | tr '\0' '\n' | cut -d' ' -f1)" \
	"$(xxh128sum <"$D/a/copy" | cut -d' ' -f1)" "... with the hashes it computed"

# ---- past PATH_MAX ------------------------------------------------------------------------------

mk_deep_tree "$T/deep" || bail "cannot build the deep tree"
(cd "$T/deep" && perl -e 'chdir "p" x 196 . $_ or die "chdir: $!" for 1000 .. 1039;
	open(my $f, ">", "bottom2") or die "open: $!"; print $f "deep\n"') || bail "cannot write bottom2"
mkdir -p "$T/shallow" && printf 'deep\n' >"$T/shallow/copy"
find "$T/deep" "$T/shallow" \( -name 'bottom*' -o -name copy \) -print0 | sort -z >"$T/e"
printf '\0' >>"$T/e"
for v in "" --verify; do
	dups_run "$T/out" "$T/err" --db "$T/db-deep" -q -0 $v "$T/deep" "$T/shallow"
	is "$rc" 0 "dups ${v:+$v }over files past PATH_MAX: exit 0"
	is "$(tr '\0' '\n' <"$T/out" | sort | tr '\n' '\0' | od -An -c | tr -s ' ')" \
		"$(tr '\0' '\n' <"$T/e" | sort | tr '\n' '\0' | od -An -c | tr -s ' ')" \
		"... one group: both files at the bottom and the shallow copy"
	is "$(cat "$T/err")" "" "... and no error on stderr"
done

# ---- >2 GiB sparse files ----------------------------------------------------------------------

t0=$(now_ms)
dups_run "$T/out" "$T/err" --db "$DB" -0 "$D" "$S"
t1=$(now_ms)
diag "dups over two 2 GiB sparse files (+ one with another tail): $((t1 - t0)) ms"
groups0 "$S/sp1" "$S/sp2" >"$T/e" && cat "$T/exp.main" >>"$T/e"
same0 "two >2 GiB sparse files of zeros are one group, first (most reclaimable); same head, other tail is not" \
	"$T/out" "$T/e"
dups_run "$T/out" "$T/err" --db "$DB" --json --summary "$S"
read -r g f b <<<"$(json_lines summary <"$T/out" 2>/dev/null)"
is "$g $f $b" "1 1 $SPARSE" "--summary: reclaimable bytes above 2^31 are exact"

# ---- unreadable files --------------------------------------------------------------------------

can_unreadable=1 why=
if is_root; then
	AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	who="uid 65534"
	if ! command -v setpriv >/dev/null; then
		can_unreadable=0 why="root reads everything and setpriv(1) is missing"
	elif ! "${AS[@]}" test -x "$FSINDEX" || ! "${AS[@]}" test -x "$T"; then
		can_unreadable=0 why="uid 65534 cannot run $FSINDEX or reach $T"
	fi
else
	AS=()
	who=$(id -un)
fi
if [ $can_unreadable = 1 ]; then
	U=$T/u
	mkdir -p "$U/dir"
	rand 4000 >"$U/pub" && cp "$U/pub" "$U/sec1" && cp "$U/pub" "$U/sec2"
	rand 4500 >"$U/ok1" && cp "$U/ok1" "$U/ok2"
	cp "$U/ok1" "$U/dir/ok3"
	chmod 000 "$U/sec1" "$U/sec2" "$U/dir"
	UDB=$T/db-u
	mkdir -m 700 "$UDB"
	is_root && chown 65534:65534 "$UDB"
	timeout -k 5 "$FSI_TIMEOUT" "${AS[@]}" "$FSINDEX" dups --db "$UDB" -0 "$U" >"$T/out" 2>"$T/err"
	rc=$?
	is "$rc" 0 "unreadable files (as $who): exit 0, a group was found"
	groups0 "$U/ok1" "$U/ok2" >"$T/e"
	same0 "unreadable files are left out of the groups" "$T/out" "$T/e"
	ok "an unreadable file is named on stderr: sec1" grep -qF "cannot read '$U/sec1': Permission denied" "$T/err"
	ok "... and sec2" grep -qF "cannot read '$U/sec2': Permission denied" "$T/err"
	ok "an unreadable directory is named on stderr" grep -qF "cannot read '$U/dir': Permission denied" "$T/err"
	diag_file "$T/err"
	rm "$U/ok2"
	timeout -k 5 "$FSI_TIMEOUT" "${AS[@]}" "$FSINDEX" dups --db "$UDB" -0 "$U" >"$T/out" 2>"$T/err"
	is "$?/$(wc -c <"$T/out")" "1/0" "only unreadable copies left: exit 1, no group"
	chmod 755 "$U/dir"
else
	skip "unreadable files" "$why"
fi

# ---- actions -------------------------------------------------------------------------------------

A0=$T/act-src
mkdir -p "$A0/x" "$A0/y" "$A0/z" "$A0/hl" "$A0/solo"
rand 10000 >"$T/ref-one"
rand 6000 >"$T/ref-q"
rand 2000 >"$T/ref-u"
cp "$T/ref-one" "$A0/x/one" && cp "$T/ref-one" "$A0/y/one" && cp "$T/ref-one" "$A0/z/one"
cp "$T/ref-q" "$A0/hl/m" && ln "$A0/hl/m" "$A0/hl/a-link" && cp "$T/ref-q" "$A0/hl/c"
cp "$T/ref-u" "$A0/solo/u"
touch -d '2020-01-01 UTC' "$A0/x/one"
touch -d '2010-01-01 UTC' "$A0/y/one"
touch -d '2022-01-01 UTC' "$A0/z/one"
touch -d '2015-01-01 UTC' "$A0/hl/m"
touch -d '2021-01-01 UTC' "$A0/hl/c"
ACT=$T/acts
fast_dir "$ACT"

# act_copy NAME: a fresh copy of the action tree (hard links, mtimes kept).
act_copy() {
	rm -rf "${ACT:?}/$1"
	cp -a "$A0" "$ACT/$1"
	printf '%s\n' "$ACT/$1"
}

# same_content DESC FILE...: each FILE exists, is a regular file, and its
# bytes are those of the reference named by the file's basename.
check_content() {
	local desc=$1 f ref bad=
	shift
	for f in "$@"; do
		case ${f##*/} in one) ref=$T/ref-one ;; m | a-link | c) ref=$T/ref-q ;; u) ref=$T/ref-u ;; esac
		cmp -s "$ref" "$f" || bad+=" $f"
	done
	if [ -z "$bad" ]; then
		pass "$desc"
	else
		fail "$desc"
		diag "missing or changed:$bad"
	fi
}

inode() {
	stat -c %i "$1"
}

snap() {
	find -P "$1" -printf '%i %n %s %T@ %C@ %m %p\0' | sort -z
}

# --link
A=$(act_copy link)
dups_run "$T/out" "$T/err" --db "$T/db-act" --link "$A"
is "$rc" 0 "--link: exit 0"
diag_file "$T/err"
ok "--link: prints linked 'P' to 'K' for y/one" grep -qxF "linked '$A/y/one' to '$A/x/one'" "$T/out"
ok "... and z/one" grep -qxF "linked '$A/z/one' to '$A/x/one'" "$T/out"
ok "... and hl/c, to the hard-linked inode's first name" grep -qxF "linked '$A/hl/c' to '$A/hl/a-link'" "$T/out"
is "$(grep -c '^linked ' "$T/out")" 3 "... and nothing else is linked"
is "$(inode "$A/y/one") $(inode "$A/z/one")" "$(inode "$A/x/one") $(inode "$A/x/one")" \
	"--link: the copies are now one inode"
is "$(inode "$A/hl/c")" "$(inode "$A/hl/m")" "--link: the copy of a hard-linked file joins its inode"
check_content "--link: every name still has its content" "$A"/{x,y,z}/one "$A"/hl/{m,a-link,c} "$A/solo/u"
is "$(find "$A" -type f | wc -l)" 7 "--link: no name lost, no temporary file left"
dups_run "$T/out" "$T/err" --db "$T/db-act" "$A"
is "$rc" 1 "after --link, dups finds nothing (exit 1)"

# --delete --keep=first|oldest|newest
for keep in first oldest newest; do
	A=$(act_copy "delete-$keep")
	dups_run "$T/out" "$T/err" --db "$T/db-act" --delete --keep=$keep "$A"
	is "$rc" 0 "--delete --keep=$keep: exit 0"
	diag_file "$T/err"
	case $keep in
	first) one=x hl="m a-link" gone="y/one z/one hl/c" ;;
	oldest) one=y hl="m a-link" gone="x/one z/one hl/c" ;;
	newest) one=z hl=c gone="x/one y/one hl/m hl/a-link" ;;
	esac
	check_content "--delete --keep=$keep: the kept files are intact ($one/one, hl/{${hl// /,}})" \
		"$A/$one/one" $(for h in $hl; do echo "$A/hl/$h"; done) "$A/solo/u"
	left=
	for g in $gone; do [ -e "$A/$g" ] && left+=" $g"; done
	is "$left" "" "--delete --keep=$keep: the others are gone ($gone)"
	is "$(find "$A" -type f | wc -l)" $((7 - $(echo $gone | wc -w))) "--delete --keep=$keep: nothing else removed, no temporary file"
	kept=$A/$one/one
	for g in $gone; do
		case $g in */one) k=$kept ;; hl/c) k=$A/hl/a-link ;; *) k=$A/hl/c ;; esac
		ok "--delete --keep=$keep: prints deleted '$g' (keeping '${k#$A/}')" \
			grep -qxF "deleted '$A/$g' (keeping '$k')" "$T/out" || diag_file "$T/out"
	done
done

A=$(act_copy delete-args)
dups_run "$T/out" "$T/err" --db "$T/db-act" --delete --keep=first "$A/z" "$A/y" "$A/x"
is "$rc" 0 "--delete --keep=first with PATHs z y x: exit 0"
ok "... keeps z/one (first PATH argument), deletes x/one and y/one" \
	test -f "$A/z/one" -a ! -e "$A/y/one" -a ! -e "$A/x/one"
check_content "... z/one intact" "$A/z/one"

# --dry-run
A=$(act_copy dry)
snap "$A" >"$T/snap.before"
dups_run "$T/out" "$T/err" --db "$T/db-act" --link --dry-run "$A"
is "$rc" 0 "--link --dry-run: exit 0"
ok "--link --dry-run: prints would link 'P' to 'K'" grep -qxF "would link '$A/y/one' to '$A/x/one'" "$T/out"
is "$(grep -c '^would link ' "$T/out")" 3 "... three of them"
dups_run "$T/out" "$T/err" --db "$T/db-act" --delete --keep=newest --dry-run "$A"
ok "--delete --dry-run: prints would delete 'P' (keeping 'K')" \
	grep -qxF "would delete '$A/x/one' (keeping '$A/z/one')" "$T/out"
is "$(grep -c '^would delete ' "$T/out")" 4 "... four of them (hl/m and hl/a-link are both names of one deleted file)"
dups_run "$T/out" "$T/err" --db "$T/db-act" --reflink --dry-run "$A"
ok "--reflink --dry-run: prints would reflink 'P' to 'K'" grep -qxF "would reflink '$A/y/one' to '$A/x/one'" "$T/out"
snap "$A" >"$T/snap.after"
same_bytes "--dry-run changes nothing (inode, links, size, mtime, ctime, mode of every entry)" \
	"$T/snap.after" "$T/snap.before"
unlike "$(grep -vE "^(would (link|delete|reflink) |/|\$)" "$T/out")" . "--dry-run prints only groups and would-lines" 

# --link across filesystems: fails for that file, with the reason; nothing lost.
if XT=$T/xdev-tmpfs && try_mount_tmpfs "$XT" size=16m; then
	XD=$T/xdev-disk
	mkdir -p "$XD"
	cp "$T/ref-one" "$XD/one" && cp "$T/ref-one" "$XT/one"
	cp "$T/ref-q" "$XD/m" && cp "$T/ref-q" "$XD/c"
	before_t=$(inode "$XT/one") before_d=$(inode "$XD/one")
	dups_run "$T/out" "$T/err" --db "$T/db-xdev" --link "$XD" "$XT"
	diag "exit $rc"; diag_file "$T/err"
	is "$rc" 3 "--link across filesystems: exit 3 (duplicates found, an action failed)"
	ok "... the error names the path and says cross-device" \
		grep -qE "'$XT/one'.*([Cc]ross-device|EXDEV)" "$T/err"
	check_content "... both copies intact" "$XT/one" "$XD/one"
	is "$(inode "$XT/one") $(inode "$XD/one")" "$before_t $before_d" "... neither replaced"
	is "$(ls -A "$XT")" one "... no temporary file left behind"
	unlike "$(cat "$T/out")" "linked '$XT" "... and not reported as linked"
	is "$(inode "$XD/c")" "$(inode "$XD/m")" "... while a group on one filesystem is linked"
	check_content "... intact" "$XD/c" "$XD/m"
else
	skip "--link across filesystems" "needs root to mount a tmpfs"
fi

# --reflink on tmpfs: refused clearly, nothing changed.
A=$(act_copy reflink-tmpfs)
snap "$A" >"$T/snap.before"
dups_run "$T/out" "$T/err" --db "$T/db-act" --reflink "$A"
diag "exit $rc"; diag_file "$T/err"
if [ "$(stat -f -c %T "$A")" = tmpfs ]; then
	ok "--reflink on tmpfs: a clear 'not supported' error naming the file" \
		grep -qiE "'$A/[^']*'.*not supported" "$T/err"
	unlike "$(cat "$T/out")" '^reflinked ' "... nothing reported as reflinked"
	snap "$A" >"$T/snap.after"
	same_bytes "... and nothing changed" "$T/snap.after" "$T/snap.before"
	check_content "... every file intact" "$A"/{x,y,z}/one "$A"/hl/{m,a-link,c}
else
	skip "--reflink on tmpfs" "no tmpfs here (not root)"
fi

# --reflink on a filesystem that supports it: a loopback XFS (or btrfs).
# reflink_fs: mount a fresh loopback XFS (or btrfs) on $RF; else $RF_WHY says why not.
reflink_fs() {
	local img=$T/reflink.img mnt=$T/reflink-mnt
	RF= RF_WHY=
	is_root || { RF_WHY="not root (a loop mount needs root)"; return 1; }
	mkdir -p "$mnt"
	truncate -s 320M "$img" || { RF_WHY="cannot create $img"; return 1; }
	if command -v mkfs.xfs >/dev/null; then
		mkfs.xfs -q -m reflink=1 "$img" >/dev/null 2>&1 || { RF_WHY="mkfs.xfs failed"; return 1; }
	elif command -v mkfs.btrfs >/dev/null; then
		mkfs.btrfs -q "$img" >/dev/null 2>&1 || { RF_WHY="mkfs.btrfs failed"; return 1; }
	else
		RF_WHY="neither mkfs.xfs (xfsprogs) nor mkfs.btrfs (btrfs-progs) is installed"
		return 1
	fi
	mount -o loop "$img" "$mnt" 2>/dev/null || { RF_WHY="cannot mount a loop device here"; return 1; }
	_mounts+=("$mnt")
	RF=$mnt
}
if reflink_fs; then
	diag "reflink filesystem: $(stat -f -c %T "$RF")"
	A=$RF/t
	cp -a "$A0" "$A"
	rand $(((20 << 20) + 5)) >"$T/ref-big"
	cp "$T/ref-big" "$A/big1" && cp "$T/ref-big" "$A/big2"
	sync
	ino_before=$(stat -c %i "$A/x/one" "$A/y/one" "$A/z/one" "$A/big1" "$A/big2" | tr '\n' ' ')
	dups_run "$T/out" "$T/err" --db "$T/db-reflink" --reflink "$A"
	is "$rc" 0 "--reflink on $(stat -f -c %T "$RF"): exit 0"
	diag_file "$T/err"
	ok "... prints reflinked 'P' to 'K'" grep -qxF "reflinked '$A/y/one' to '$A/x/one'" "$T/out"
	ok "... also for the 20 MiB file (deduplicated in chunks)" grep -qxF "reflinked '$A/big2' to '$A/big1'" "$T/out"
	check_content "... every file keeps its content" "$A"/{x,y,z}/one "$A"/hl/{m,a-link,c}
	ok "... the 20 MiB file too" cmp -s "$T/ref-big" "$A/big2"
	is "$(stat -c %i "$A/x/one" "$A/y/one" "$A/z/one" "$A/big1" "$A/big2" | tr '\n' ' ')" "$ino_before" \
		"... no file replaced (same inodes)"
	sync
	if command -v filefrag >/dev/null; then
		for f in y/one z/one big2; do
			ext=$(filefrag -v "$A/$f" 2>/dev/null | grep -cE '^ *[0-9]+:')
			shared=$(filefrag -v "$A/$f" 2>/dev/null | grep -E '^ *[0-9]+:' | grep -c shared)
			ok "... $f: all its extents shared ($shared of $ext)" test "$ext" -gt 0 -a "$shared" = "$ext"
		done
	else
		skip "shared extents" "filefrag (e2fsprogs) not installed"
	fi
else
	skip "--reflink on a filesystem with reflinks" "$RF_WHY"
fi

done_testing
