#!/bin/bash
# SPDX-License-Identifier: MIT
#
# perm.sh - unreadable entries: a mode-000 directory, a directory with r but
# no x, one with x but no r, an unreadable file.  The scan names each error,
# exits 1 and indexes the rest, like find run by the same user.
#
# root reads everything, so when run as root (as CI does) the scans run as
# the unprivileged uid/gid 65534 through setpriv(1); otherwise as the caller.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

if is_root; then
	command -v setpriv >/dev/null ||
		skip_all "running as root without setpriv(1): root reads everything, nothing to test"
	AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	who="uid 65534"
	"${AS[@]}" test -x "$FSINDEX" ||
		skip_all "uid 65534 cannot execute $FSINDEX (a parent directory is not searchable)"
	"${AS[@]}" test -x "$T" ||
		skip_all "uid 65534 cannot reach the scratch directory $T (set TMPDIR)"
else
	AS=()
	who="$(id -un)"
fi
diag "the unreadable cases run as $who"

P=$T/perm
mkdir -p "$P"/ok/deeper/noperm2 "$P"/noperm/sub "$P"/rnox/sd "$P"/xnor "$P"/empty
echo a >"$P/ok/a"
echo b >"$P/ok/deeper/b"
echo h >"$P/ok/deeper/noperm2/hidden"
echo h >"$P/noperm/hidden"
echo h >"$P/noperm/sub/hidden2"
echo 1 >"$P/rnox/f1"
echo 22 >"$P/rnox/f2"
echo k >"$P/xnor/known"
echo secret >"$P/unreadable-file"
ODD=$'odd\nname\t\x01\xff\\q'
mkdir "$P/$ODD"
echo o >"$P/$ODD/inside"
chmod 000 "$P/noperm" "$P/ok/deeper/noperm2" "$P/unreadable-file" "$P/$ODD"
chmod 444 "$P/rnox"
chmod 111 "$P/xnor"
# Old enough that the scan settles what it lists cleanly (walk.c): the rescan
# below must still list, and name, what it could not read.
sleep 2.1

DB=$T/db-perm
mkdir -m 700 "$DB"
is_root && chown 65534:65534 "$DB"

# as CMD...: CMD as the unprivileged user, with a timeout.
as() {
	timeout -k 5 "$FSI_TIMEOUT" "${AS[@]}" "$@"
}

# The index belongs to its user: root refuses to open an index in another
# user's directory (store-env.c), so the queries below run as that user too.
eval "lib_$(declare -f FSI)"
FSI() {
	local cmd=$1
	shift
	as "$FSINDEX" "$cmd" --db "$DB" "$@"
}

# What the same user's find sees (its complaints ignored).
as find -P "$P" -print0 2>/dev/null | sort -z >"$T/paths.exp"
as find -P "$P" -printf "$META_FMT" 2>/dev/null | sort -z >"$T/meta.exp"

as "$FSINDEX" scan --db "$DB" "$P" >"$T/out" 2>"$T/err"
rc=$?
is "$rc" 1 "scan with unreadable directories exits 1"
diag_file "$T/err"
like "$(cat "$T/err")" "cannot read '$P/noperm': Permission denied" "the mode-000 directory is named, with the reason"
like "$(cat "$T/err")" "cannot read '$P/ok/deeper/noperm2': Permission denied" "a nested mode-000 directory is named"
like "$(cat "$T/err")" "cannot read '$P/xnor': Permission denied" "a directory with x but no r is named"
ok "a hostile name is quoted: \\n \\t \\xHH \\\\" grep -iqF "cannot read '$P/odd\\nname\\t\\x01\\xff\\\\q': Permission denied" "$T/err"
like "$(cat "$T/err")" "cannot (read|stat) '$P/rnox[^']*': Permission denied" "a directory with r but no x is named (or its entries)"
unlike "$(cat "$T/err")" 'unreadable-file' "an unreadable file is no error (metadata only)"
is "$(grep -vE "^fsindex: (cannot (read|stat|list) '.*': .+|scanned [0-9]+ dirs, [0-9]+ files, [0-9]+ errors in [0-9.]+ s)\$" "$T/err")" "" \
	"stderr holds only \"fsindex: cannot read|stat|list '<path>': <reason>\" lines and the summary"
errors=$(sed -nE 's/.* files, ([0-9]+) errors.*/\1/p' "$T/err")
is "$errors" "$(grep -Ec "^fsindex: cannot (read|stat)" "$T/err")" "the summary counts every error named ($errors)"

FSI find -0 | sort -z >"$T/paths.got"
grep -zv "^$P/rnox/" "$T/paths.got" >"$T/paths.got.main"
grep -zv "^$P/rnox/" "$T/paths.exp" >"$T/paths.exp.main"
same_bytes "the rest of the tree is indexed: same paths as find run by $who" "$T/paths.got.main" "$T/paths.exp.main"
grep -z "^$P/rnox/" "$T/paths.got" >"$T/rnox.got"
grep -z "^$P/rnox/" "$T/paths.exp" >"$T/rnox.exp"
# find prints the names it cannot stat; fsindex stores no entry it could not
# stat (it would have no type, size or time to give) and names each on stderr.
is "$(tr '\0' '\n' <"$T/rnox.got")" "" "the entries of an r-but-no-x directory are not indexed"
for f in f1 f2 sd; do
	ok "... and '$f' is named as unreadable" grep -qF "cannot stat '$P/rnox/$f': Permission denied" "$T/err"
done

FSI find --printf "$META_FMT" | sort -z | grep -zv "^. [^ ]* [^ ]* $P/rnox/" >"$T/meta.got"
grep -zv "^. [^ ]* [^ ]* $P/rnox/" "$T/meta.exp" >"$T/meta.exp.main"
same_bytes "type, size, mtime of what $who can stat" "$T/meta.got" "$T/meta.exp.main"
is "$(FSI find --printf '%y %s\n' unreadable-file)" "f 7" "the unreadable file is indexed (type, size)"
is "$(FSI find --count "$P/noperm/")" 0 "nothing below the mode-000 directory"
is "$(FSI find --printf '%y %m\n' --regex "$P/noperm\$")" "d 0" "the mode-000 directory itself is listed (type d, mode 0)"

# A rescan by the same user: the same errors, the same index.
as "$FSINDEX" scan --db "$DB" -q "$P" >/dev/null 2>"$T/err2"
is "$?" 1 "a rescan exits 1 again"
is "$(grep -Ec "^fsindex: cannot (read|stat)" "$T/err2")" "$(grep -Ec "^fsindex: cannot (read|stat)" "$T/err")" \
	"a rescan names the same errors (-q keeps them)"
FSI find -0 | sort -z >"$T/paths.got2"
ok "a rescan leaves the same index" cmp "$T/paths.got" "$T/paths.got2"

# Permissions restored: a rescan by the same user picks up what it can now read.
chmod 755 "$P/noperm" "$P/ok/deeper/noperm2" "$P/rnox" "$P/xnor" "$P/$ODD"
as "$FSINDEX" scan --db "$DB" -q "$P" >/dev/null 2>"$T/err3"
is "$?" 0 "after chmod 755 the rescan is clean (exit 0)"
diag_file "$T/err3"
check_oracle "after chmod 755" "$P"

# root reads mode-000 directories: the same tree scans clean.
if is_root; then
	chmod 000 "$P/noperm" "$P/ok/deeper/noperm2"
	FSI() { lib_FSI "$@"; }
	DB=$T/db-root
	scan_ok "as root the mode-000 directories are read (exit 0)" "$P"
	check_oracle "as root" "$P"
fi

done_testing
