#!/bin/bash
# SPDX-License-Identifier: MIT
#
# json.sh - `find --json`: one strict JSON object per line (checked with
# perl's JSON::PP: no raw control character, valid UTF-8, nothing after the
# object); path, type, size and mtime agree with find -printf for every
# entry; a name that is not valid UTF-8 comes with a path_b64 holding its
# exact bytes (and only such names do); newline, quote, backslash and control
# bytes are escaped; "hash" appears exactly on the regular files of a root
# scanned with --hash, and equals xxh128sum.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

have_json_pp || bail "perl with JSON::PP not found"
command -v xxh128sum >/dev/null || bail "xxh128sum not found (Debian package xxhash)"

J=$T/j
fast_dir "$J"
mk_weird_tree "$J/weird" || bail "cannot build the weird tree"
rm -f "$J/weird/sparse-5g"		# 5 GiB of zeros: hash.sh covers big files
mk_links_tree "$J/links" || bail "cannot build the links tree"
(
	cd "$J" || exit 1
	mkdir more && cd more || exit 1
	for n in 'quote"q' $'ctl\x02\x1f\x7f' $'euro-\xe2\x82\xac' $'overlong-\xc0\xaf' \
		$'surrogate-\xed\xa0\x80' $'truncated-\xe2\x82' $'lone-cont-\x80' \
		$'fffd-\xef\xbf\xbd' $'latin1-caf\xe9' $'\xf4\x90\x80\x80-above-10ffff' \
		$'cr\rhere' $'formfeed\x0c' '\u0041' '"' '\\'; do
		printf '%s' "$n" >"./$n" || exit 1
	done
	mkdir $'bad\xffdir' && echo in >$'bad\xffdir/inside' && echo in2 >$'bad\xffdir/\xfe'
	touch -d '1999-12-31 23:59:59.999999999 UTC' 'quote"q'
	touch -d '2038-01-19 03:14:08.000000001 UTC' '"'
	touch -d '2100-01-01 00:00:00 UTC' '\\'
) || bail "cannot build the tree"

scan_ok "scan (no --hash)" "$J"
FSI find --json >"$T/json" 2>"$T/json.err"
is "$?" 0 "find --json exits 0"
is "$(cat "$T/json.err")" "" "... and prints nothing on stderr"

json_lines check <"$T/json" 2>"$T/problems"
ok "every line is one strict JSON object with the specified fields" test ! -s "$T/problems" ||
	diag_file "$T/problems"
is "$(wc -l <"$T/json")" "$(oracle_paths "$J" | count0 /dev/stdin)" "one line per indexed entry"
ok "the output is valid UTF-8" sh -c 'iconv -f UTF-8 -t UTF-8 "$1" >/dev/null' sh "$T/json"
is "$(LC_ALL=C grep -c $'[\x01-\x09\x0b-\x1f]' "$T/json")" 0 "no raw control byte in the output (newline ends lines only)"

json_lines meta <"$T/json" 2>/dev/null | sort -z >"$T/meta.got"
oracle_meta "$J" >"$T/meta.exp"
same_bytes "path (exact bytes), type, size, mtime agree with find -printf for every entry" \
	"$T/meta.got" "$T/meta.exp"

# path_b64 on exactly the names that are not valid UTF-8.
json_lines b64 <"$T/json" 2>/dev/null | sort -z >"$T/b64.got"
oracle_paths "$J" | perl -0 -ne '
	use Encode; chomp; my $c = $_;
	print "$_\0" unless eval { Encode::decode("UTF-8", $c, Encode::FB_CROAK); 1 };
' | sort -z >"$T/b64.exp"
ok "the tree has invalid UTF-8 names ($(count0 "$T/b64.exp"))" test "$(count0 "$T/b64.exp")" -ge 10
same_bytes "path_b64 exactly on the paths that are not valid UTF-8, decoding to their bytes" \
	"$T/b64.got" "$T/b64.exp"
b64line=$(grep -F "\"path\":\"$J/more/latin1-caf" "$T/json")
like "$b64line" '"path":"[^"]*latin1-caf\\ufffd"|"path":"[^"]*latin1-caf'$'\xef\xbf\xbd''"' \
	"an invalid byte appears as U+FFFD in \"path\""
b64=$(printf '%s' "$b64line" | sed -nE 's/.*"path_b64":"([^"]*)".*/\1/p')
is "$(printf '%s' "$b64" | base64 -d | od -An -tx1 | tr -d ' \n')" \
	"$(printf '%s' "$J/more/latin1-caf"$'\xe9' | od -An -tx1 | tr -d ' \n')" \
	"base64 -d of path_b64 gives the exact bytes"

# Escapes, as they appear in the raw output.
for pair in \
	'new\nline' 'tab\there' 'quote\"q' 'back\\slash' 'end\\"' '\u0001ctrl' \
	'esc\u001b[0m' 'ctl\u0002\u001f' 'cr\rhere' 'formfeed\f' '\\u0041"' '/\""' '/\\\\"'; do
	ok "escaped in the output: $pair (or the \\u00XX form)" \
		grep -iqF -e "$pair" -e "$(printf '%s' "$pair" | sed 's/\\n/\\u000a/; s/\\t/\\u0009/; s/\\r/\\u000d/; s/\\f/\\u000c/')" "$T/json"
done
is "$(grep -c '"hash"' "$T/json")" 0 "no hash without --hash"

# Filters and exit status.
FSI find --json --type f >"$T/jf"
is "$(json_lines meta <"$T/jf" 2>/dev/null | grep -zc '^[^f]')" 0 "--json --type f: only regular files"
is "$(wc -l <"$T/jf")" "$(find -P "$J" -type f -printf x | wc -c)" "... all of them"
is "$(FSI find --json 'quote"q' | wc -l)" 1 "--json with a pattern: the matching entry only"
FSI find --json no-such-name-anywhere >"$T/jn"
is "$?/$(wc -c <"$T/jn")" "1/0" "--json matching nothing: exit 1, no output"
FSI find --json | head -n 1 >/dev/null 2>"$T/pipe.err"
is "$(cat "$T/pipe.err")" "" "find --json | head -1 ends quietly"

# ---- with --hash ----------------------------------------------------------------

scan_ok "rescan with --hash" --hash "$J"
FSI find --json >"$T/json2"
json_lines check <"$T/json2" 2>"$T/problems"
ok "after --hash: still strict JSON, hashes only on regular files" test ! -s "$T/problems" ||
	diag_file "$T/problems"
index_hashes >"$T/h.got"
xxh_oracle "$J" >"$T/h.exp"
same_bytes "\"hash\" on every regular file, as xxh128sum prints it" "$T/h.got" "$T/h.exp"
is "$(grep -c '"hash"' "$T/json2")" "$(find -P "$J" -type f -printf x | wc -c)" "as many hashes as regular files"
json_lines meta <"$T/json2" 2>/dev/null | sort -z >"$T/meta2.got"
same_bytes "path, type, size, mtime still agree" "$T/meta2.got" "$T/meta.exp"

# Only the root scanned with --hash carries hashes.
K=$T/k
mkdir -p "$K" && echo k >"$K/f"
scan_ok "scan another root without --hash" "$K"
FSI find --json "$K/f" >"$T/jk"
is "$(grep -c '"hash"' "$T/jk")" 0 "a file under a root scanned without --hash has no hash"

done_testing
