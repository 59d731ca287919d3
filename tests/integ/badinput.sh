#!/bin/bash
# SPDX-License-Identifier: MIT
#
# badinput.sh - things that are not an fsindex index are refused and left
# byte-for-byte unchanged; bad roots; a second scan while one runs; SIGINT and
# SIGTERM during a scan; entries vanishing mid-scan; a full disk under the index.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

for tool in mdb_load mdb_dump mdb_stat flock; do
	command -v $tool >/dev/null || bail "$tool not found (Debian packages lmdb-utils, util-linux)"
done

REFUSE_RE='not an fsindex index|schema'

R=$T/tree
mkdir -p "$R/d"
echo x >"$R/d/f"

# snapshot PATH: every file under PATH (or PATH itself) with its checksum,
# mode and size, so that any write shows.
snapshot() {
	if [ -d "$1" ]; then
		(cd "$1" && find . -type f ! -name lock.mdb ! -name '*-lock' -printf '%p %m %s ' -exec sha256sum {} \; | sort)
		(cd "$1" && ls -A | grep -vx -e lock.mdb)
	else
		printf '%s ' "$(stat -c '%a %s' "$1")"
		sha256sum <"$1"
	fi
}

# refused WHAT DBPATH: scan and find both exit 2 with the refusal message and
# leave DBPATH as it was; nothing is created inside a foreign directory but
# LMDB's own lock.mdb (which the opener of any LMDB environment writes).
refused() {
	local what=$1 db=$2 before cmd
	before=$(snapshot "$db")
	for cmd in scan find; do
		if [ $cmd = scan ]; then
			DB=$db FSI scan "$R" >"$T/out" 2>"$T/err"
		else
			DB=$db FSI find >"$T/out" 2>"$T/err"
		fi
		rc=$?
		is "$rc" 2 "$what: $cmd exits 2"
		like "$(cat "$T/err")" "$REFUSE_RE" "$what: $cmd says it is not an fsindex index"
		ok "$what: $cmd prints nothing on stdout" test ! -s "$T/out"
	done
	is "$(snapshot "$db")" "$before" "$what: left byte-for-byte unchanged, nothing created inside"
}

# ---- files that are not an index ---------------------------------------------

head -c 100000 /dev/urandom >"$T/random.db"
refused "a file of random bytes" "$T/random.db"

head -c 65536 /dev/zero >"$T/zero.db"
refused "a zero-filled file" "$T/zero.db"

printf 'hello, I am a text file\n' >"$T/text.db"
refused "a small text file" "$T/text.db"

mkdir "$T/randdir"
head -c 100000 /dev/urandom >"$T/randdir/data.mdb"
refused "a directory whose data.mdb is random bytes" "$T/randdir"

# ---- foreign LMDB environments ------------------------------------------------

mkdir "$T/foreign-named"
printf 'key1\nvalue1\nkey2\nvalue2\n' | mdb_load -T -s foreigndb "$T/foreign-named" ||
	bail "mdb_load failed"
refused "a foreign LMDB environment with a named db" "$T/foreign-named"

mkdir "$T/foreign-main"
printf 'some\nthing\n' | mdb_load -T "$T/foreign-main" || bail "mdb_load failed"
refused "a foreign LMDB environment with only the main db" "$T/foreign-main"

mkdir "$T/foreign-meta"
printf 'magic\nnot-fsindex\nschema\n1\n' | mdb_load -T -s meta "$T/foreign-meta" ||
	bail "mdb_load failed"
refused "a foreign LMDB environment with its own 'meta' db" "$T/foreign-meta"

mkdir "$T/foreign-empty"
: | mdb_load -T "$T/foreign-empty" || bail "mdb_load failed"
if [ -s "$T/foreign-empty/data.mdb" ]; then
	refused "an empty foreign LMDB environment" "$T/foreign-empty"
fi

refused "a foreign LMDB data file given as the file" "$T/foreign-named/data.mdb"

# ---- an index of another schema, a truncated index ------------------------------

DB=$T/real
scan_ok "scan into a fresh index" "$R"
FSI find --count >/dev/null
is "$?" 0 "find on it works"

cp -a "$DB" "$T/asfile-dir"
is "$(DB=$T/asfile-dir/data.mdb FSI find --count 2>&1)" "$(find "$R" | wc -l)" \
	"an index's data.mdb given as --db FILE is accepted"

cp -a "$DB" "$T/tampered"
mdb_dump -s meta "$T/tampered" >"$T/meta.dump" 2>"$T/err" || diag_file "$T/err"
# Rewrite the value of the key "schema" (hex 736368656d61) with bytes that are
# neither 1 big- nor little-endian.
awk 'f { printf " %s\n", gensub(/[0-9a-f][0-9a-f]/, "63", "g", substr($0, 2)); f = 0; next }
     $0 == " 736368656d61" { f = 1 } { print }' "$T/meta.dump" >"$T/meta.tampered" 2>/dev/null ||
	awk 'f { v = substr($0, 2); gsub(/[0-9a-f][0-9a-f]/, "63", v); print " " v; f = 0; next }
	     $0 == " 736368656d61" { f = 1 } { print }' "$T/meta.dump" >"$T/meta.tampered"
if grep -qx ' 736368656d61' "$T/meta.dump" && ! cmp -s "$T/meta.dump" "$T/meta.tampered" &&
	mdb_load -s meta -f "$T/meta.tampered" "$T/tampered" 2>"$T/err"; then
	is "$(mdb_dump -s meta "$T/tampered" | grep -A1 -x ' 736368656d61' | tail -n 1 | tr -d ' 63')" "" \
		"the schema version was rewritten with mdb_load"
	refused "an index whose schema version is not ours" "$T/tampered"
else
	fail "rewrite the schema version of an index with mdb_dump/mdb_load"
	diag "meta holds:"
	diag_file "$T/meta.dump"
	diag_file "$T/err"
fi

cp -a "$DB" "$T/truncated"
truncate -s 8192 "$T/truncated/data.mdb"
before=$(snapshot "$T/truncated")
for cmd in scan find; do
	if [ $cmd = scan ]; then
		DB=$T/truncated FSI scan "$R" >/dev/null 2>"$T/err"
	else
		DB=$T/truncated FSI find >/dev/null 2>"$T/err"
	fi
	rc=$?
	is "$rc" 2 "an index truncated to its two meta pages: $cmd exits 2 (no crash)"
	ok "... with a message" test -s "$T/err"
done
is "$(snapshot "$T/truncated")" "$before" "a truncated index is left unchanged"

# ---- bad roots, unusable --db --------------------------------------------------------

DB=$T/db-roots
FSI scan "$T/does-not-exist" >/dev/null 2>"$T/err"
is "$?" 2 "scan of a missing path: exit 2"
like "$(cat "$T/err")" 'does-not-exist' "... naming the path"
FSI scan "$R/d/f" >/dev/null 2>"$T/err"
is "$?" 2 "scan of a regular file: exit 2"
like "$(cat "$T/err")" "$R/d/f" "... naming the path"
FSI scan "$R" "$T/does-not-exist" >/dev/null 2>&1
is "$?" 2 "scan of a good and a missing path: exit 2"
ln -s "$T/does-not-exist" "$T/dangling-root"
FSI scan "$T/dangling-root" >/dev/null 2>&1
is "$?" 2 "scan of a dangling symlink: exit 2"
DB=$R/d/f/db FSI scan "$R" >/dev/null 2>"$T/err"
is "$?" 2 "--db below a regular file: exit 2"
ok "... with a message" test -s "$T/err"
if ! is_root; then
	mkdir "$T/ro" && chmod 555 "$T/ro"
	DB=$T/ro/db FSI scan "$R" >/dev/null 2>&1
	is "$?" 2 "--db in a read-only directory: exit 2"
fi

# ---- a second scan while one runs ------------------------------------------------------

DB=$T/db-lock
scan_ok "scan into a fresh index" "$R"
# A writer holds an flock on the data file (fsindex(1), FILES): hold it so.
# The subshell becomes the sleep that holds the lock: killing it frees it.
(exec 9<"$DB/data.mdb" && flock -x 9 && exec sleep 30) >/dev/null 2>&1 &
holder=$!
track_pid "$holder"
sleep 0.3
t0=$(now_ms)
FSI scan "$R" >/dev/null 2>"$T/err"
rc=$?
t1=$(now_ms)
is "$rc" 2 "scan while data.mdb is locked: exit 2"
like "$(cat "$T/err")" 'another scan' "... saying another scan is writing the index"
ok "... at once ($((t1 - t0)) ms < 2000 ms)" test $((t1 - t0)) -lt 2000
FSI find --count >/dev/null
is "$?" 0 "find works while a scan holds the lock"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
scan_ok "scan once the lock is free" "$R"

# The same with two real scans: stop the first one (SIGSTOP) while it writes.
# Meanwhile, find polls the index being created: it may find no index yet,
# or an empty one, but must never call it foreign.
B=$T/big
fast_dir "$B"
mk_bulk "$B" 300 200 || bail "cannot build the big tree"
DB=$T/db-lock2
"$FSINDEX" scan --db "$DB" -q -j1 "$B" >/dev/null 2>"$T/first.err" &
first=$!
track_pid "$first"
foreign=
ready=
for _ in $(seq 2000); do
	FSI find --count >/dev/null 2>"$T/poll.err"
	case $? in
	0 | 1) ready=1; break ;;
	esac
	grep -q 'not an fsindex index' "$T/poll.err" && foreign="$(cat "$T/poll.err")"
	kill -0 "$first" 2>/dev/null || break
done
is "$foreign" "" "find on an index the first scan is still creating never says 'not an fsindex index'"
kill -STOP "$first" 2>/dev/null
sleep 0.05
if [ -n "$ready" ] && [ "$(awk '{ print $3 }' "/proc/$first/stat" 2>/dev/null)" = T ]; then
	t0=$(now_ms)
	FSI scan "$B" >/dev/null 2>"$T/err"
	rc=$?
	t1=$(now_ms)
	is "$rc" 2 "a second scan while the first is running: exit 2"
	like "$(cat "$T/err")" 'another scan is writing this index' "... 'another scan is writing this index'"
	ok "... at once ($((t1 - t0)) ms < 2000 ms)" test $((t1 - t0)) -lt 2000
	kill -CONT "$first"
	wait_timeout "$first" 60
	is "$rc" 0 "the first scan goes on and finishes"
	check_oracle "the first scan's index" "$B"
else
	kill -CONT "$first" 2>/dev/null
	wait "$first"
	skip "a second scan while the first runs" "the first scan finished before it could be stopped"
fi

# ---- SIGINT and SIGTERM during a scan ---------------------------------------------------------

interrupt() {
	local sig=$1 delay=$2
	local t0 t1
	rm -rf "$DB"
	t0=$(now_ms)
	timeout --preserve-status -k 20 -s "$sig" "$delay" "$FSINDEX" scan --db "$DB" -j2 "$B" \
		>/dev/null 2>"$T/int.err"
	rc=$?
	t1=$(now_ms)
	elapsed=$((t1 - t0))
}

DB=$T/db-int
for sig in INT TERM; do
	interrupt $sig 0.2
	if [ "$rc" -eq 0 ]; then
		# Too fast for the signal: try again earlier.
		interrupt $sig 0.05
	fi
	if [ "$rc" -eq 0 ]; then
		skip "SIG$sig during a scan" "the scan finished before the signal ($elapsed ms)"
		continue
	fi
	if [ $sig = INT ]; then
		is "$rc" 130 "SIGINT during a scan: exit 130"
	else
		like "$rc" '^(130|143)$' "SIGTERM during a scan: exit 130 or 143 (got $rc)"
	fi
	ok "SIG$sig: stops promptly ($elapsed ms after start, signal at 200 ms)" test "$elapsed" -lt 5000
	unlike "$(cat "$T/int.err")" 'AddressSanitizer|runtime error|Segmentation|Aborted' "SIG$sig: no crash report"
	FSI find --count >"$T/count" 2>"$T/err"
	rc=$?
	like "$rc" '^[01]$' "SIG$sig: the index opens afterwards (find exits $rc, $(cat "$T/count") entries)"
	diag_file "$T/err"
	scan_ok "SIG$sig: the next scan completes" "$B"
	check_oracle "SIG$sig: after the next scan" "$B"
done

# ---- killed at any moment of a first scan ------------------------------------------------
# Whatever instant a scan into a fresh index dies at (even before its first
# commit), the next scan must accept the index and complete.

K=$T/kill
fast_dir "$K"
mk_bulk "$K" 100 100 || bail "cannot build the kill tree"
DB=$T/db-kill
bad=
for sig in INT KILL; do
	for delay in 0.001 0.003 0.01 0.03 0.1; do
		rm -rf "$DB"
		if [ $sig = INT ]; then
			# timeout(1) runs it in the foreground: SIGINT not ignored.
			timeout -s INT $delay "$FSINDEX" scan --db "$DB" -q "$K" >/dev/null 2>&1
		else
			# Not timeout -s KILL: that kills timeout itself too, and
			# the next scan could start before the victim is gone.
			"$FSINDEX" scan --db "$DB" -q "$K" >/dev/null 2>&1 &
			victim=$!
			sleep $delay
			kill -KILL $victim 2>/dev/null
			wait $victim 2>/dev/null
		fi
		FSI scan -q "$K" >/dev/null 2>"$T/err"
		rc=$?
		[ $rc -eq 0 ] || bad="$bad SIG$sig after ${delay}s: next scan exit $rc ($(head -n 1 "$T/err"));"
	done
done
is "$bad" "" "a first scan killed (SIGINT, SIGKILL) at any moment: the next scan accepts the index"
check_oracle "after the kills and a full scan" "$K"

# ---- entries vanishing mid-scan -----------------------------------------------------------

V=$T/vanish
fast_dir "$V"
mk_bulk "$V" 50 100 || bail "cannot build the churn tree"
perl -e '
	chdir $ARGV[0] or die;
	my $end = time + 30;
	my $i = 0;
	while (time < $end) {
		my $d = "churn" . ($i % 20);
		mkdir $d; mkdir "$d/sub";
		for my $j (1 .. 20) { open(my $f, ">", "$d/sub/f$j"); open($f, ">", "dir0001/tmp$j") }
		for my $j (1 .. 20) { unlink "$d/sub/f$j"; unlink "dir0001/tmp$j" }
		rmdir "$d/sub"; rmdir $d;
		$i++;
	}' "$V" &
churn=$!
track_pid "$churn"
DB=$T/db-vanish
bad=
for i in 1 2 3 4 5; do
	FSI scan -q "$V" >/dev/null 2>"$T/err"
	rc=$?
	case $rc in
	0 | 1) ;;
	*) bad="$bad run $i: exit $rc;" ;;
	esac
	grep -Eq 'AddressSanitizer|runtime error|Segmentation|Aborted' "$T/err" && bad="$bad run $i: crash report;"
done
kill "$churn" 2>/dev/null
wait "$churn" 2>/dev/null
is "$bad" "" "five scans while files and directories come and go: exit 0 or 1, no crash"
diag_file "$T/err"
scan_ok "a quiet rescan afterwards" "$V"
check_oracle "after the churn settled" "$V"

# ---- a full disk under the index ----------------------------------------------------------

F=$T/full
if try_mount_tmpfs "$F" size=512k; then
	DB=$F/db
	FSI scan "$B" >/dev/null 2>"$T/err"
	rc=$?
	is "$rc" 2 "scan into an index on a full disk: exit 2"
	like "$(cat "$T/err")" 'No space left|space' "... saying there is no space left"
	unlike "$(cat "$T/err")" 'AddressSanitizer|runtime error|Segmentation|Aborted' "... no crash"
	diag_file "$T/err" 10
	FSI find --count >/dev/null 2>"$T/err"
	rc=$?
	like "$rc" '^[012]$' "find afterwards: opens (0/1) or refuses cleanly (2), no hang (got $rc)"
	diag_file "$T/err" 5
	FSI scan "$B" >/dev/null 2>"$T/err"
	rc=$?
	is "$rc" 2 "scan again on the still full disk: exit 2, no crash"
	umount "$F" && mount -t tmpfs -o size=64m fsindex-test "$F"
	scan_ok "the same on a disk with room: exit 0" "$B"
else
	skip "a full disk under the index" "cannot mount a tiny tmpfs (needs root)"
fi

done_testing
