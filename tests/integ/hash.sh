#!/bin/bash
# SPDX-License-Identifier: MIT
#
# hash.sh - `scan --hash`: the stored hash of every regular file equals, as a
# string, what xxh128sum prints for it (sizes around the 4 KiB partial-hash
# boundaries, hostile names); a rescan re-reads only the files whose stat
# tuple changed (strace); a file rewritten while it is read gets no hash from
# mixed content; a >2 GiB sparse file hashes under a `ulimit -v` far below
# its size; --io=sync and --io=uring agree; with io_uring refused by seccomp
# (tests/helpers/no-uring) --io=auto falls back to pread, says so once, and
# --io=uring fails; and where io_uring works, --io=auto uses it.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

command -v xxh128sum >/dev/null || bail "xxh128sum not found (Debian package xxhash)"
have_json_pp || bail "perl with JSON::PP not found"

# Summary line 2 of `scan --hash`: "hashed N files, N bytes with BACKEND, N in flight at most".
HASHED_RE='^fsindex: hashed ([0-9]+) files?, ([0-9]+) bytes with (io_uring|pread), ([0-9]+) in flight at most$'

# hashed_field ERRFILE N: field N (1 files, 2 bytes, 3 backend, 4 in flight) of that line.
hashed_field() {
	sed -nE "s/$HASHED_RE/\\$2/p" "$1" | tail -n 1
}

# check_hashes DESC ROOT...: every regular file's stored hash equals xxh128sum.
check_hashes() {
	local desc=$1
	shift
	xxh_oracle "$@" >"$T/hash.exp"
	index_hashes >"$T/hash.got"
	same_bytes "$desc" "$T/hash.got" "$T/hash.exp"
	if [ -s "$T/index_hashes.err" ]; then
		diag "find --json problems:"
		diag_file "$T/index_hashes.err"
	fi
}

# ---- the tree ------------------------------------------------------------------

H=$T/h
fast_dir "$H"
(
	cd "$H" || exit 1
	for s in 0 1 4095 4096 4097 8191 8192 8193 $((1048576 + 3)) $((5 << 20)); do
		head -c "$s" /dev/urandom >"size-$s" || exit 1
	done
	mkdir -p sub/deeper $'dir\nnl' $'\xfe\xff'
	for n in $'new\nline' $'\xff\xfe' $'bad\xc3(utf8' 'quote"q' 'back\slash' \
		$'\x01ctrl' $'tab\there' '-rf' 'with space'; do
		head -c 5000 /dev/urandom >"$n" || exit 1
		head -c 3000 /dev/urandom >"sub/$n" || exit 1
	done
	head -c 100 /dev/urandom >$'dir\nnl/inner'
	head -c 100 /dev/urandom >$'\xfe\xff/inner'
	cp size-4097 sub/deeper/copy-of-4097
	cp size-4097 $'dir\nnl/copy-of-4097'
	: >sub/empty
	ln -s size-1 symlink
	mkfifo fifo
	ln size-8193 hardlink-8193
) || bail "cannot build the tree"
# Age the tree: no timestamp is "racily clean" for the scans below.
find -P "$H" -exec touch -h -d '2020-02-02 12:00:00.5 UTC' {} +
sleep 1.1
nfiles=$(find -P "$H" -type f -printf x | wc -c)
# Hard links: each inode need be read once, but every name carries the hash.
nbytes=$(find -P "$H" -type f -printf '%i %s\n' | sort -u | awk '{ s += $2 } END { print s }')
nbytes_names=$(find -P "$H" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
ninodes=$(find -P "$H" -type f -printf '%i\n' | sort -u | wc -l)

# ---- first scan ------------------------------------------------------------------

run_fsi "$T/out" "$T/err" scan --hash "$H"
is "$rc" 0 "scan --hash exits 0"
diag_file "$T/err"
ok "stderr ends with the scan summary and the hash summary" \
	grep -Eq "$HASHED_RE" "$T/err"
is "$(grep -cvE "^fsindex: scanned [0-9]+ dirs, [0-9]+ files, 0 errors in [0-9.]+ s\$|$HASHED_RE" "$T/err")" 0 \
	"stderr holds nothing else"
files=$(hashed_field "$T/err" 1)
ok "hashed $files files: every regular inode ($ninodes), or every name ($nfiles)" \
	test "$files" = "$ninodes" -o "$files" = "$nfiles"
bytes=$(hashed_field "$T/err" 2)
ok "hashed $bytes bytes = the regular files' sizes summed over inodes ($nbytes) or names ($nbytes_names)" \
	test "$bytes" = "$nbytes" -o "$bytes" = "$nbytes_names"
check_hashes "stored hash of every regular file = xxh128sum" "$H"
ok "find --json: no problem (strict JSON, fields as specified)" test ! -s "$T/index_hashes.err"

FSI find --json "$H" | json_lines check 2>"$T/jerr"
ok "find --json output checks out" test ! -s "$T/jerr" || diag_file "$T/jerr"
is "$(FSI find --json --type d,l,p | grep -c '"hash"')" 0 "no hash on directories, symlinks, FIFOs"

h4097=$(xxh128sum <"$H/size-4097")
h4097=${h4097%% *}
FSI find -0 --hash "$h4097" | sort -z >"$T/fh.got"
printf '%s\0' "$H/size-4097" "$H/sub/deeper/copy-of-4097" "$H/dir"$'\n'"nl/copy-of-4097" | sort -z >"$T/fh.exp"
same_bytes "find --hash HEX lists the files with that content" "$T/fh.got" "$T/fh.exp"
FSI find --hash 0123456789abcdef0123456789abcdef >/dev/null
is "$?" 1 "find --hash of an unknown hash exits 1"
hempty=$(xxh128sum </dev/null)
FSI find --hash "${hempty%% *}" >"$T/fh.out" 2>"$T/fh.err"
is "$?:$(cat "$T/fh.out")" "0:$H/size-0"$'\n'"$H/sub/empty" "find --hash: the empty files have the hash of no bytes" ||
	diag_file "$T/fh.err"
# The lookup lists files in the traversal's order: the full pass's order
# (find --type f), kept to the files whose content xxh128sum says is that.
FSI find -0 --type f "$H" | while IFS= read -r -d '' p; do
	h=$(xxh128sum <"$p") && [ "${h%% *}" = "$h4097" ] && printf '%s\0' "$p"
done >"$T/fh.order"
FSI find -0 --hash "$h4097" >"$T/fh.got"
same_bytes "find --hash lists in the order of a full pass" "$T/fh.got" "$T/fh.order"
is "$(FSI find --hash "$h4097" deeper)" "$H/sub/deeper/copy-of-4097" "find --hash with a pattern: both must match"
is "$(FSI find --count --hash "$h4097" --type d)" 0 "find --hash --type d: no directory has a content hash"

# ---- rescans read only what changed --------------------------------------------------

DB=$T/db-rescan
run_fsi "$T/out" "$T/err" scan --hash --io=sync "$H"
is "$rc" 0 "scan --hash --io=sync into a fresh index"
check_hashes "--io=sync: every hash = xxh128sum" "$H"

if command -v strace >/dev/null; then
	strace_log "$T/st1" "$FSINDEX" scan --db "$DB" --hash --io=sync "$H"
	is "$rc" 0 "unchanged rescan (under strace) exits 0"
	strace_content_files "$T/st1" "$H" >"$T/st1.files"
	is "$(count0 "$T/st1.files")" 0 "an unchanged rescan opens or reads no regular file of the tree" ||
		nul_list "$T/st1.files" | head -n 20 | sed 's/^/#   /'

	# Append to one file; overwrite another in place, same size, mtime restored
	# (only the ctime tells).
	# (The new mtimes are put in the past too: a file modified within a second
	# or two of a scan is "racy" and read again by the next scan, by design.)
	printf 'more' >>"$H/size-8192"
	touch -d '2020-02-03 12:00:00.5 UTC' "$H/size-8192"
	printf 'XYZ' | dd of="$H/sub/quote\"q" bs=1 seek=100 conv=notrunc status=none
	touch -d '2020-02-02 12:00:00.5 UTC' "$H/sub/quote\"q"
	strace_log "$T/st2" "$FSINDEX" scan --db "$DB" --hash --io=sync "$H"
	is "$rc" 0 "rescan after changing 2 files exits 0"
	strace_content_files "$T/st2" "$H" >"$T/st2.files"
	printf '%s\0' "$H/size-8192" "$H/sub/quote\"q" | sort -z >"$T/st2.exp"
	same_bytes "the rescan opens and reads exactly the 2 changed files" "$T/st2.files" "$T/st2.exp"
	check_hashes "after the rescan every hash = xxh128sum" "$H"

	strace_log "$T/st3" "$FSINDEX" scan --db "$DB" --hash --io=sync "$H"
	strace_content_files "$T/st3" "$H" >"$T/st3.files"
	is "$(count0 "$T/st3.files")" 0 "another unchanged rescan reads nothing" ||
		nul_list "$T/st3.files" | head -n 20 | sed 's/^/#   /'
else
	skip "rescans under strace read only what changed" "strace not installed (Debian package strace; sh tests/deps.sh installs it)"
fi

# --hash is remembered per root: a plain rescan keeps hashing.
printf 'again' >>"$H/size-1"
echo new >"$H/sub/new-file"
sleep 1.1
run_fsi "$T/out" "$T/err" scan "$H"
is "$rc" 0 "rescan without --hash exits 0"
check_hashes "rescan without --hash: the root remembers --hash, every hash = xxh128sum" "$H"

# ---- --io=sync and --io=uring give the same hashes ------------------------------------

DB=$T/db
FSI scan -q "$H"
index_hashes >"$T/h.auto"
DB=$T/db-sync
run_fsi "$T/out" "$T/err" scan --hash --io=sync "$H"
index_hashes >"$T/h.sync"
like "$(cat "$T/err")" 'bytes with pread,' "--io=sync reads with pread"
DB=$T/db-uring-probe
mkdir -p "$T/tiny" && echo tiny >"$T/tiny/f"
FSI scan -q --hash --io=uring "$T/tiny" >/dev/null 2>"$T/err.probe"
uring_rc=$?
if [ $uring_rc -eq 0 ]; then
	DB=$T/db-uring
	run_fsi "$T/out" "$T/err" scan --hash --io=uring "$H"
	is "$rc" 0 "scan --hash --io=uring exits 0"
	like "$(cat "$T/err")" 'bytes with io_uring,' "--io=uring reads with io_uring"
	index_hashes >"$T/h.uring"
	same_bytes "--io=sync and --io=uring store the same hashes" "$T/h.sync" "$T/h.uring"
	check_hashes "--io=uring: every hash = xxh128sum" "$H"
	inflight=$(hashed_field "$T/err" 4)
	ok "--io=uring has more than one read in flight at most ($inflight)" test "${inflight:-0}" -gt 1

	# CI fails when io_uring is available but not used: --io=auto must take it.
	DB=$T/db-auto-v
	run_fsi "$T/out" "$T/err" scan --hash -v "$H"
	is "$(hashed_field "$T/err" 3)" io_uring "io_uring works here, so --io=auto uses it (not pread)"
	unlike "$(cat "$T/err")" 'io_uring unavailable' "... and does not say it is unavailable"
else
	diag "scan --io=uring on a tiny tree exited $uring_rc: io_uring is not usable here"
	diag_file "$T/err.probe"
	like "$(cat "$T/err.probe")" 'io_uring' "--io=uring failing names io_uring"
	is "$uring_rc" 2 "... and exits 2"
	skip "--io=sync and --io=uring store the same hashes" "io_uring unusable here"
fi
same_bytes "--io=auto and --io=sync store the same hashes" "$T/h.auto" "$T/h.sync"

# ---- fallback when io_uring is refused -------------------------------------------------

NOURING=$top_builddir/tests/helpers/no-uring
if [ ! -x "$NOURING" ]; then
	skip "no-uring fallback" "$NOURING not built"
elif "$NOURING" true 2>/dev/null; [ $? -eq 125 ]; then
	skip "no-uring fallback" "cannot install a seccomp filter here"
else
	DB=$T/db-nouring
	timeout -k 5 "$FSI_TIMEOUT" "$NOURING" "$FSINDEX" scan --db "$DB" --hash --io=auto "$H" >"$T/out" 2>"$T/err"
	rc=$?
	is "$rc" 0 "under no-uring, scan --hash --io=auto exits 0"
	diag_file "$T/err"
	is "$(grep -c '^fsindex: io_uring unavailable (.*), reading with pread$' "$T/err")" 1 \
		"... says once on stderr: io_uring unavailable (<reason>), reading with pread"
	is "$(hashed_field "$T/err" 3)" pread "... and its summary says pread"
	check_hashes "... and every hash = xxh128sum" "$H"
	DB=$T/db-nouring2
	timeout -k 5 "$FSI_TIMEOUT" "$NOURING" "$FSINDEX" scan --db "$DB" --hash --io=uring "$H" >"$T/out" 2>"$T/err"
	is "$?" 2 "under no-uring, scan --hash --io=uring exits 2"
	like "$(cat "$T/err")" 'io_uring' "... naming io_uring"
	timeout -k 5 "$FSI_TIMEOUT" "$NOURING" --enosys "$FSINDEX" scan --db "$T/db-enosys" -q --hash "$H" >"$T/out" 2>"$T/err"
	is "$?" 0 "under no-uring --enosys, scan --hash exits 0"
	like "$(cat "$T/err")" 'io_uring unavailable' "... and says io_uring is unavailable"
fi

# ---- a file rewritten while it is read -----------------------------------------------

W=$T/w
fast_dir "$W"
head -c $((48 << 20)) /dev/urandom >"$T/content-a"
head -c $((48 << 20)) /dev/urandom >"$T/content-b"
cp "$T/content-a" "$W/flip"
ha=$(xxh128sum <"$T/content-a"); ha=${ha%% *}
hb=$(xxh128sum <"$T/content-b"); hb=${hb%% *}
# The writer copies A over the file, then B, then A... in 1 MiB chunks: the
# file is all A or all B only between two passes.
perl -e '
	my ($f, @src) = @ARGV;
	my @data = map { local $/; open(my $h, "<", $_) or die; binmode $h; scalar <$h> } @src;
	open(my $o, "+<", $f) or die "$f: $!"; binmode $o;
	for (my $i = 0; ; $i++) {
		my $d = $data[$i % 2];
		for (my $off = 0; $off < length $d; $off += 1 << 20) {
			sysseek($o, $off, 0); syswrite($o, $d, 1 << 20, $off);
		}
	}
' "$W/flip" "$T/content-a" "$T/content-b" &
writer=$!
track_pid $writer
sleep 0.2
DB=$T/db-flip
flip_ok=1
for round in 1 2 3; do
	run_fsi "$T/out" "$T/err" scan --hash "$W"
	h=$(index_hashes | tr '\0' '\n' | sed -n "s| $W/flip\$||p")
	if grep -F "'$W/flip'" "$T/err" | grep -q 'changed while read'; then
		if [ -z "${msg_checked-}" ]; then
			msg_checked=1
			ok "the message is: cannot hash '<path>': file changed while read" \
				grep -qxF "fsindex: cannot hash '$W/flip': file changed while read" "$T/err" ||
				diag_file "$T/err"
		fi
		[ "$rc" = 1 ] || { flip_ok=0; diag "round $round: reported, but exit $rc (expected 1)"; }
		[ "$h" = - ] || { flip_ok=0; diag "round $round: reported, but a hash is stored: $h"; }
		diag "round $round: changed while read: reported, no hash"
	elif [ "$h" = "$ha" ] || [ "$h" = "$hb" ]; then
		diag "round $round: read between two passes of the writer: the hash of one whole version"
	else
		flip_ok=0
		diag "round $round: exit $rc, hash '$h' is neither version's ($ha, $hb): mixed content"
		diag_file "$T/err"
	fi
done
is "$flip_ok" 1 "a file rewritten while read: reported and left without a hash, or the hash of one whole version"
kill $writer 2>/dev/null
wait $writer 2>/dev/null

# Appending: whatever hash is stored must be that of the first SIZE bytes
# (SIZE as stored: the file only grows, so its prefix does not change).
head -c $((32 << 20)) /dev/urandom >"$W/grow"
rm -f "$W/flip"
(while :; do printf 'appended line\n' >>"$W/grow"; done) &
writer=$!
track_pid $writer
sleep 0.1
DB=$T/db-grow
run_fsi "$T/out" "$T/err" scan --hash "$W"
kill $writer 2>/dev/null
wait $writer 2>/dev/null
line=$(FSI find --json "$W/grow")
h=$(printf '%s\n' "$line" | json_lines hashes 2>/dev/null | tr '\0' '\n' | cut -d' ' -f1)
size=$(printf '%s\n' "$line" | sed -nE 's/.*"size":([0-9]+).*/\1/p')
if grep -F "'$W/grow'" "$T/err" | grep -q 'changed while read'; then
	is "$rc/$h" "1/-" "a file appended to while read: reported, exit 1, no hash"
else
	hp=$(head -c "$size" "$W/grow" | xxh128sum)
	is "$h" "${hp%% *}" "a file appended to while read: not reported, so its hash is that of its first $size bytes (the stored size)"
fi

# ---- a sparse file above 2 GiB under ulimit -v ---------------------------------------

S=$T/sparse
fast_dir "$S"
printf 'head of the sparse file' >"$S/big"
truncate -s $(((2 << 30) + 12345)) "$S/big"
printf 'tail' >>"$S/big"
hbig=$(xxh128sum <"$S/big")
DB=$T/db-sparse
# 600 MB of address space, a quarter of the file.  The index map starts
# small (it grows as needed) so that the limit is about reading, not LMDB.
# A sanitizer build reserves terabytes of shadow memory: no ulimit -v there.
if grep -qaE '__(a|t)san_init' "$FSINDEX"; then
	vlimit=unlimited
	skip "hashing under ulimit -v" "$FSINDEX is built with a sanitizer (it reserves terabytes of address space)"
else
	vlimit=600000
fi
(
	ulimit -v $vlimit
	FSINDEX_DEBUG_MAPSIZE=$((16 << 20)) FSI scan --hash "$S" >"$T/out" 2>"$T/err"
)
rc=$?
is "$rc" 0 "a >2 GiB sparse file hashed with ulimit -v $vlimit: exit 0"
diag_file "$T/err"
index_hashes >"$T/sp.got"
printf '%s %s\0' "${hbig%% *}" "$S/big" >"$T/sp.exp"
same_bytes "... and its hash = xxh128sum" "$T/sp.got" "$T/sp.exp"

done_testing
