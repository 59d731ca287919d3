#!/bin/bash
# SPDX-License-Identifier: MIT
#
# lib.sh - shared helpers of the integration tests (sourced, not run).
#
# TAP: every script prints "ok N - ..." / "not ok N - ..." lines and a closing
# "1..N" plan (done_testing), read by automake's tap-driver.sh.  Diagnostics go
# to stdout as "# ..." lines so that they land in the .log next to the failure.
#
# Environment: FSINDEX (absolute path of the binary under test), top_srcdir,
# top_builddir.  When run by hand, FSINDEX defaults to $top_builddir/fsindex.
#
# Every script gets a private scratch directory $T (removed on exit, together
# with anything mounted under it) and a private index $DB.  The default index
# locations (FSINDEX_DB, XDG_CACHE_HOME) point into $T too, so a test can never
# touch the index of the user running `make check`.
#
# The oracle is GNU find: `find -P ROOT -printf ...` walks without following
# symlinks and, unlike stat(1), works on paths longer than PATH_MAX.

export LC_ALL=C
unset POSIXLY_CORRECT FSINDEX_DEBUG_MAPSIZE FSINDEX_DEBUG_FDS

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${FSINDEX:=$top_builddir/fsindex}"
export FSINDEX top_srcdir top_builddir

# Seconds any single fsindex call may take before it counts as a hang.
FSI_TIMEOUT=${FSI_TIMEOUT:-60}

# ---- TAP -------------------------------------------------------------------

_tap_n=0
_tap_failed=0
_tap_planned=

# plan N: announce the number of tests up front (optional; done_testing
# prints the plan at the end otherwise).
plan() {
	_tap_planned=$1
	echo "1..$1"
}

# skip_all REASON: nothing in this script can run here.
skip_all() {
	echo "1..0 # SKIP $*"
	_tap_planned=0
	exit 0
}

# bail REASON: the environment is broken; stop the whole run.
bail() {
	echo "Bail out! $*"
	exit 1
}

diag() {
	local line
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line"
	done
}

# diag_file FILE [MAX]: a file as diagnostics, control bytes made visible,
# at most MAX (default 40) lines.
diag_file() {
	[ -s "$1" ] || return 0
	cat -v -- "$1" | head -n "${2:-40}" | sed 's/^/#   /'
}

# pass DESC / fail DESC: record one result.
pass() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}

fail() {
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $*"
}

# ok DESC CMD [ARGS...]: passes when CMD exits 0.  CMD's stdout and stderr are
# captured and shown as diagnostics on failure.
ok() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$desc"
		return 0
	fi
	fail "$desc"
	diag "command failed (exit $rc): $*"
	[ -n "$out" ] && printf '%s\n' "$out" | head -n 40 | cat -v | sed 's/^/#   /'
	return 1
}

# nok DESC CMD [ARGS...]: passes when CMD exits non-zero.
nok() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		pass "$desc"
		return 0
	fi
	fail "$desc"
	diag "command unexpectedly succeeded: $*"
	[ -n "$out" ] && printf '%s\n' "$out" | head -n 40 | cat -v | sed 's/^/#   /'
	return 1
}

# is GOT EXPECTED DESC: string equality.
is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
		return 0
	fi
	fail "$3"
	diag "     got: '$(printf '%s' "$1" | cat -v)'"
	diag "expected: '$(printf '%s' "$2" | cat -v)'"
	return 1
}

# like GOT ERE DESC: GOT matches the extended regular expression.
like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		pass "$3"
		return 0
	fi
	fail "$3"
	diag "     got: '$(printf '%s' "$1" | head -c 2000 | cat -v)'"
	diag "expected to match: /$2/"
	return 1
}

# unlike GOT ERE DESC: GOT does not match.
unlike() {
	if ! printf '%s' "$1" | grep -Eq -- "$2"; then
		pass "$3"
		return 0
	fi
	fail "$3"
	diag "     got: '$(printf '%s' "$1" | head -c 2000 | cat -v)'"
	diag "expected not to match: /$2/"
	return 1
}

# skip DESC REASON: a test that cannot run here.
skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1 # SKIP ${2:-}"
}

# done_testing: print the plan (unless given up front) and finish.  The exit
# status stays 0: failures are "not ok" lines, and tap-driver.sh would count a
# non-zero exit as one more error.
done_testing() {
	[ -z "$_tap_planned" ] && echo "1..$_tap_n"
	if [ $_tap_failed -ne 0 ]; then
		diag "$_tap_failed of $_tap_n tests failed"
	fi
	exit 0
}

# ---- scratch space, cleanup --------------------------------------------------

_cleanup_hooks=()
_mounts=()

# at_exit CMD...: run CMD (as an eval string) when the script exits, before
# the scratch directory goes.  Hooks run in reverse order of registration.
at_exit() {
	_cleanup_hooks+=("$*")
}

_bg_pids=()

# track_pid PID: kill PID (if still running) when the script exits.
track_pid() {
	_bg_pids+=("$1")
}

# wait_timeout PID SECS: wait for the child PID, killing it after SECS;
# sets $rc to its exit status.
wait_timeout() {
	local pid=$1 n=$(($2 * 10)) st
	while [ $n -gt 0 ]; do
		st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)
		if [ -z "$st" ] || [ "$st" = Z ]; then
			break
		fi
		sleep 0.1
		n=$((n - 1))
	done
	[ $n -eq 0 ] && kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
}

_cleanup() {
	local i pid
	set +e
	for pid in "${_bg_pids[@]}"; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	for ((i = ${#_cleanup_hooks[@]} - 1; i >= 0; i--)); do
		eval "${_cleanup_hooks[i]}" >/dev/null 2>&1
	done
	for ((i = ${#_mounts[@]} - 1; i >= 0; i--)); do
		umount "${_mounts[i]}" 2>/dev/null || umount -l "${_mounts[i]}" 2>/dev/null
	done
	if [ -n "${T:-}" ] && grep -qF " $T" /proc/self/mounts 2>/dev/null; then
		# Never recurse into something still mounted (proc, sysfs).
		echo "# not removing $T: something is still mounted below it" >&2
	elif [ -n "${T:-}" ] && [ -d "$T" ]; then
		cd / || true
		chmod -R u+rwx -- "$T" 2>/dev/null
		rm -rf -- "$T"
	fi
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T=$(mktemp -d "${TMPDIR:-/tmp}/fsindex-integ.XXXXXX") || bail "mktemp failed"
# The scratch tree must be reachable by the unprivileged user of perm.sh.
chmod 755 "$T"
T=$(realpath "$T")
DB=$T/db
export FSINDEX_DB=$T/default-db
export XDG_CACHE_HOME=$T/xdg-cache

is_root() {
	[ "$(id -u)" -eq 0 ]
}

# try_mount_tmpfs DIR [OPTIONS]: mount a fresh tmpfs on DIR (created when
# missing); unmounted on exit.  Fails (status 1) when not root or mount fails.
try_mount_tmpfs() {
	local dir=$1 opts=${2:-size=512m}
	mkdir -p -- "$dir" || return 1
	is_root || return 1
	mount -t tmpfs -o "$opts" fsindex-test "$dir" 2>/dev/null || return 1
	_mounts+=("$dir")
	return 0
}

# fast_dir DIR: DIR on a tmpfs when possible (creating many files on a real
# disk can be slow on CI machines), else a plain directory.
fast_dir() {
	try_mount_tmpfs "$1" || mkdir -p -- "$1"
}

# ---- running fsindex ---------------------------------------------------------

[ -x "$FSINDEX" ] || bail "FSINDEX='$FSINDEX' is not an executable (build fsindex first)"

# fsi CMD ARGS...: fsindex with a timeout, no --db (uses the defaults).
fsi() {
	timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" "$@"
}

# FSI CMD ARGS...: fsindex CMD --db "$DB" ARGS..., with a timeout.
FSI() {
	local cmd=$1
	shift
	timeout -k 5 "$FSI_TIMEOUT" "$FSINDEX" "$cmd" --db "$DB" "$@"
}

# run_fsi OUT ERR CMD ARGS...: FSI with stdout/stderr into files; sets $rc.
run_fsi() {
	local out=$1 err=$2
	shift 2
	FSI "$@" >"$out" 2>"$err"
	rc=$?
	return 0
}

# scan_ok DESC ARGS...: `scan ARGS` exits 0 and is silent but for the summary.
scan_ok() {
	local desc=$1 err=$T/scan_ok.err
	shift
	FSI scan "$@" >/dev/null 2>"$err"
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$desc"
		return 0
	fi
	fail "$desc"
	diag "fsindex scan $* exited $rc"
	diag_file "$err"
	return 1
}

# ---- oracle ------------------------------------------------------------------

# The format both sides print: type, size, mtime, path; NUL-terminated.
META_FMT='%y %s %T@ %p\0'

# oracle_paths ROOT...: every path under the ROOTs (realpath'd), sorted, NUL.
oracle_paths() {
	local r roots=()
	for r in "$@"; do roots+=("$(realpath -- "$r")"); done
	find -P "${roots[@]}" -print0 2>/dev/null | sort -z -u
}

# oracle_meta ROOT...: type, size, mtime and path of everything, sorted, NUL.
oracle_meta() {
	local r roots=()
	for r in "$@"; do roots+=("$(realpath -- "$r")"); done
	find -P "${roots[@]}" -printf "$META_FMT" 2>/dev/null | sort -z -u
}

# index_paths [FIND-ARGS...]: what the index lists, sorted, NUL.
index_paths() {
	FSI find -0 "$@" | sort -z
}

# index_meta [FIND-ARGS...]: the index's dump in the oracle's format, sorted.
index_meta() {
	FSI find --printf "$META_FMT" "$@" | sort -z
}

# same_bytes DESC FILE-GOT FILE-EXPECTED: byte equality of two NUL-separated
# listings; on mismatch a readable diff (NUL -> newline, control bytes shown).
same_bytes() {
	local desc=$1 got=$2 exp=$3
	if cmp -s -- "$got" "$exp"; then
		pass "$desc"
		return 0
	fi
	fail "$desc"
	diag "index (got): $(tr -cd '\0' <"$got" | wc -c) entries; oracle (expected): $(tr -cd '\0' <"$exp" | wc -c) entries"
	diff <(tr '\0' '\n' <"$exp" | cat -v) <(tr '\0' '\n' <"$got" | cat -v) |
		head -n 60 | sed 's/^/#   /'
	diag "(diff: '<' only in oracle, '>' only in index)"
	return 1
}

# check_oracle DESC ROOT... : the index (all of it) equals find over ROOTs in
# both the path set (-0) and type/size/mtime (--printf).
check_oracle() {
	local desc=$1
	shift
	oracle_paths "$@" >"$T/oracle.paths"
	index_paths >"$T/index.paths"
	same_bytes "$desc: paths" "$T/index.paths" "$T/oracle.paths"
	oracle_meta "$@" >"$T/oracle.meta"
	index_meta >"$T/index.meta"
	same_bytes "$desc: type, size, mtime" "$T/index.meta" "$T/oracle.meta"
}

# count0 FILE: number of NUL-terminated records.
count0() {
	tr -cd '\0' <"$1" | wc -c
}

# now_ms: wall clock in milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# ---- tree builders -----------------------------------------------------------

# name255: a name of exactly 255 bytes (NAME_MAX).
name255() {
	printf 'L%.0s' $(seq 255)
}

# mk_weird_tree DIR: names that break naive tools.
mk_weird_tree() {
	local d=$1 n
	mkdir -p -- "$d" || return 1
	(
		cd -- "$d" || exit 1
		for n in $'new\nline' $'tab\there' $'\xff\xfe' $'bad\xc3(utf8' \
			'-rf' '--help' '-' 'with space' ' lead' 'trail ' \
			'back\slash' 'end\' 'star*' '[bracket' 'q?mark' \
			$'\x01ctrl' $'esc\x1b[0m' '%p%s' 'caf'$'\xc3\xa9' \
			'.hidden' '...' "$(name255)"; do
			printf '%s' "$n" >"./$n" || exit 1
		done
		# The same hostile names as directories, with something inside.
		for n in $'dir\nnl' $'\xfe\xff' '-dir' 'dir with space' \
			'dir\back' '*' '['; do
			mkdir -- "./$n" || exit 1
			printf 'x' >"./$n/inner" || exit 1
			printf 'y' >"./$n/$(name255)" || exit 1
		done
		# Sizes: empty, small, one page and a bit, sparse past 4 GiB.
		: >empty-file
		head -c 4097 /dev/zero >page-and-a-bit
		truncate -s 5G sparse-5g
		touch -d '2001-02-03 04:05:06.123456789 UTC' old-mtime
		touch -h -d '2002-03-04 05:06:07.5 UTC' -- "-rf"
	) || return 1
}

# mk_deep_tree DIR: a path longer than PATH_MAX (40 levels of 200-byte names,
# over 8,000 bytes), built with relative mkdir/chdir (perl: bash's cd gets
# slow at that depth), a file at the bottom and a side file half way.
mk_deep_tree() {
	mkdir -p -- "$1" || return 1
	(cd -- "$1" && perl -e '
		my $n = "p" x 196;
		for my $i (1000 .. 1039) {
			mkdir "$n$i" or die "mkdir: $!";
			chdir "$n$i" or die "chdir: $!";
			if ($i == 1020) { open(my $f, ">", "half-way") or die; print $f "hw" }
		}
		open(my $f, ">", "bottom") or die "open: $!"; print $f "deep\n";
		symlink("../" x 3, "up3") or die;
		mkdir "empty-at-bottom" or die;
	')
}

# mk_links_tree DIR: symlink loops, a link to its own dir, dangling links,
# a FIFO, hard links, an empty directory (and a device node when root).
mk_links_tree() {
	mkdir -p -- "$1" || return 1
	(
		cd -- "$1" || exit 1
		ln -s b a && ln -s a b || exit 1
		ln -s . loop || exit 1
		ln -s .. parent || exit 1
		ln -s /nonexistent/fsindex/target dangling || exit 1
		ln -s '' empty-target 2>/dev/null || true
		ln -s "$(name255)" long-dangling || exit 1
		mkdir sub && echo data >sub/file || exit 1
		ln -s sub dirlink || exit 1
		ln -s sub/file filelink || exit 1
		mkfifo fifo || exit 1
		echo hard >hard1 && ln hard1 hard2 && ln hard1 sub/hard3 || exit 1
		mkdir empty-dir || exit 1
		mkdir -p nest/a/b/c/d && : >nest/a/b/c/d/leaf || exit 1
		if [ "$(id -u)" -eq 0 ]; then
			mknod chardev c 1 3 2>/dev/null || true
		fi
		exit 0
	)
}

# mk_chain DIR DEPTH: DIR/d/d/d/... DEPTH levels deep with a file "leaf" at
# the bottom.  Removed by rm_chain (rm -rf is very slow on such chains).
mk_chain() {
	mkdir -p -- "$1" || return 1
	(cd -- "$1" && perl -e '
		my $n = shift;
		for (1 .. $n) { mkdir "d" or die "mkdir: $!"; chdir "d" or die "chdir: $!" }
		open(my $f, ">", "leaf") or die "open: $!";
	' "$2")
}

# rm_chain DIR: remove what mk_chain built, bottom up.
rm_chain() {
	[ -d "$1" ] || return 0
	(cd -- "$1" && perl -e '
		my $n = 0;
		while (-d "d" && !-l "d") { chdir "d" or die; $n++ }
		unlink "leaf";
		for (1 .. $n) { chdir ".." or die; rmdir "d" or die "rmdir: $!" }
	')
}

# mk_bulk DIR NDIRS NFILES: NDIRS directories of NFILES empty files each.
mk_bulk() {
	mkdir -p -- "$1" || return 1
	(cd -- "$1" && perl -e '
		my ($nd, $nf) = @ARGV;
		for my $i (1 .. $nd) {
			my $d = sprintf("dir%04d", $i);
			mkdir $d or die "mkdir: $!";
			for my $j (1 .. $nf) {
				open(my $f, ">", sprintf("%s/file-%05d.dat", $d, $j)) or die "open: $!";
			}
		}
	' "$2" "$3")
}

# ---- JSON Lines, content hashes, strace (hash.sh, json.sh, dups.sh) ----------
#
# JSON is parsed with perl's JSON::PP (a core module, present wherever perl
# is: build-essential pulls it in), strictly: a raw control character in a
# string, malformed UTF-8, trailing garbage or a non-object line is an error.
# Numbers are kept exact (allow_bignum): an mtime with 9 decimals does not fit
# a double.

have_json_pp() {
	perl -MJSON::PP -MMIME::Base64 -MEncode -MMath::BigFloat -e 1 2>/dev/null
}

_JSON_PL='
use strict; use warnings;
use JSON::PP; use MIME::Base64 qw(decode_base64 encode_base64); use Encode ();
binmode STDIN; binmode STDOUT; binmode STDERR;
my $mode = shift // "check";
my $js = JSON::PP->new->utf8->allow_bignum;
my ($n, $bad) = (0, 0);
sub problem { $bad++; my $m = shift; $m =~ s/([^\x20-\x7e])/sprintf("\\x%02x", ord $1)/ge; print STDERR "line $n: $m\n"; }
sub num { my $v = shift; return defined $v ? "$v" : "" }
# The exact bytes of a path given as a JSON string plus, maybe, its base64.
sub path_bytes {
	my ($p, $b) = @_;
	if (!defined $p || ref $p) { problem("path is not a string"); return "" }
	my $utf8 = Encode::encode("UTF-8", $p);
	return $utf8 if !defined $b;
	if (ref $b) { problem("base64 field is not a string"); return $utf8 }
	my $raw = decode_base64($b);
	problem("base64 \"$b\" is not canonical standard base64") if encode_base64($raw, "") ne $b;
	my $copy = $raw;
	if (eval { Encode::decode("UTF-8", $copy, Encode::FB_CROAK); 1 }) {
		problem("base64 given for a valid UTF-8 path \"$raw\"");
	}
	my $repl = Encode::decode("UTF-8", $raw, Encode::FB_DEFAULT);
	(my $x = $repl) =~ s/\x{FFFD}+/\x{FFFD}/g;
	(my $y = $p) =~ s/\x{FFFD}+/\x{FFFD}/g;
	problem("path \"" . Encode::encode("UTF-8", $p) . "\" is not its bytes with U+FFFD for invalid ones")
		if $x ne $y || $p !~ /\x{FFFD}/;
	return $raw;
}
my $hexre = qr/^[0-9a-f]{32}$/;
while (my $line = <STDIN>) {
	$n++;
	if ($line !~ s/\n\z//) { problem("no newline at the end of the last line") }
	my $o = eval { $js->decode($line) };
	if (!defined $o) { (my $e = $@) =~ s/ at -e line.*//s; problem("invalid JSON: $e"); next }
	if (ref $o ne "HASH") { problem("not a JSON object"); next }
	if ($mode eq "check" || $mode eq "meta" || $mode eq "hashes" || $mode eq "b64") {
		# find --json
		for my $k (keys %$o) {
			problem("unknown key \"$k\"") unless $k =~ /^(path|path_b64|type|size|mtime|hash)$/;
		}
		my $path = path_bytes($o->{path}, $o->{path_b64});
		my $t = $o->{type} // "";
		problem("type \"$t\" is not one letter of fdlpscb") unless !ref $t && $t =~ /^[fdlpscb]$/;
		problem("size is not a non-negative integer") unless defined $o->{size} && num($o->{size}) =~ /^[0-9]+$/;
		problem("mtime is not a number with 9 decimals") unless $line =~ /"mtime":-?[0-9]+\.[0-9]{9}[,}]/;
		my $h = $o->{hash};
		if (defined $h) {
			problem("hash \"$h\" is not 32 lower-case hex digits") unless !ref $h && $h =~ $hexre;
			problem("hash on an entry of type $t") if $t ne "f";
		}
		if ($mode eq "meta") {
			my $m = Math::BigFloat->new(num($o->{mtime}))->bfround(-9)->bstr;
			print "$t ", num($o->{size}), " ${m}0 $path\0";
		} elsif ($mode eq "hashes") {
			print(($h // "-"), " $path\0") if $t eq "f";
		} elsif ($mode eq "b64") {
			print "$path\0" if defined $o->{path_b64};
		}
	} elsif ($mode eq "groups" || $mode eq "groupmeta" || $mode eq "summary") {
		# dups --json
		if (exists $o->{summary}) {
			my $s = $o->{summary};
			problem("summary object has other keys") if keys %$o != 1;
			if (ref $s ne "HASH") { problem("summary is not an object"); next }
			print join(" ", map { num($s->{$_}) } qw(groups files reclaimable)), "\n" if $mode eq "summary";
			next;
		}
		for my $k (keys %$o) {
			problem("unknown key \"$k\"") unless $k =~ /^(size|hash|paths|paths_b64)$/;
		}
		problem("size is not a non-negative integer") unless defined $o->{size} && num($o->{size}) =~ /^[0-9]+$/;
		problem("hash is not 32 lower-case hex digits") unless defined $o->{hash} && $o->{hash} =~ $hexre;
		my $p = $o->{paths};
		if (ref $p ne "ARRAY" || @$p < 2) { problem("paths is not an array of at least 2"); next }
		my $b = $o->{paths_b64};
		if (defined $b && (ref $b ne "ARRAY" || @$b != @$p)) { problem("paths_b64 is not an array as long as paths"); $b = undef }
		problem("paths_b64 present but every entry null") if defined $b && !grep { defined } @$b;
		my @bytes = map { path_bytes($p->[$_], $b ? $b->[$_] : undef) } 0 .. $#$p;
		if ($mode eq "groups") { print map({ "$_\0" } @bytes), "\0" }
		if ($mode eq "groupmeta") { print num($o->{size}), " $o->{hash} ", scalar(@bytes), "\n" }
	} else {
		die "json_lines: unknown mode $mode\n";
	}
}
exit($bad ? 1 : 0);
'

# json_lines MODE <JSONL: parse and check JSON Lines; problems on stderr (one
# "line N: ..." each), exit 1 if any.  MODE, for `find --json`: check (only
# check), meta (print "%y %s %T@ %p\0" like META_FMT, with the exact path
# bytes recovered from path_b64), hashes ("HASH PATH\0" for each regular
# file, HASH "-" when none is stored), b64 (the paths that came with a
# path_b64, NUL-terminated).  For `dups --json`: groups (the groups as `dups
# -0` prints them), groupmeta ("SIZE HASH NFILES" per group), summary
# ("GROUPS FILES RECLAIMABLE" from the summary object).
json_lines() {
	perl -e "$_JSON_PL" "$@"
}

# xxh_oracle ROOT...: "HASH PATH\0" for every regular file below the ROOTs,
# HASH as xxh128sum prints it, sorted.
xxh_oracle() {
	local f h
	find -P "$@" -type f -print0 | while IFS= read -r -d '' f; do
		h=$(xxh128sum <"$f") || h=unreadable
		printf '%s %s\0' "${h%% *}" "$f"
	done | sort -z
}

# index_hashes [FIND-ARGS...]: "HASH PATH\0" of every regular file in the
# index (HASH "-" when none is stored), sorted; problems in $T/index_hashes.err.
index_hashes() {
	FSI find --json "$@" | json_lines hashes 2>"$T/index_hashes.err" | sort -z
}

# STRACE_IO: the system calls that open or read file content.
STRACE_IO=open,openat,openat2,creat,read,pread64,readv,preadv,preadv2,mmap

# strace_log LOG CMD...: CMD under strace -f, every file descriptor decorated
# with its path in hex (-y -xx); CMD's stdout and stderr go to LOG.out and
# LOG.err; sets $rc to CMD's exit status.
# LeakSanitizer cannot run under ptrace: an ASan build traced by strace would
# abort at exit, so leak checking is off for traced runs (and only for them).
STRACE_ENV="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

strace_log() {
	local log=$1
	shift
	timeout -k 5 "$FSI_TIMEOUT" env "$STRACE_ENV" strace -f -qq -y -xx -e trace=$STRACE_IO -o "$log" "$@" \
		>"$log.out" 2>"$log.err"
	rc=$?
}

# strace_content_files LOG ROOT: the regular files below ROOT that the traced
# command opened (other than O_PATH) or read, NUL-terminated, sorted, unique.
strace_content_files() {
	perl -e '
		use strict; use warnings;
		my ($log, $root) = @ARGV;
		my (%pend, %seen);
		sub dec { my $s = shift; $s =~ s/\\x([0-9a-fA-F]{2})/chr(hex($1))/ge; $s }
		open(my $fh, "<", $log) or die "$log: $!";
		while (my $l = <$fh>) {
			chomp $l;
			my ($pid, $rest) = $l =~ /^(\d+)\s+(.*)$/ or next;
			if ($rest =~ /^(.*) <unfinished \.\.\.>$/) { $pend{$pid} = $1; next }
			if ($rest =~ /^<\.\.\. \w+ resumed>(.*)$/) { $rest = ($pend{$pid} // "") . $1; delete $pend{$pid} }
			my $p;
			if ($rest =~ /^(?:open|openat|openat2|creat)\(/) {
				next if $rest =~ /O_PATH/;
				($p) = $rest =~ /= \d+<([^>]*)>$/;
			} elsif ($rest =~ /^(?:read|pread64|readv|preadv|preadv2)\(\d+<([^>]*)>/) {
				$p = $1;
			} elsif ($rest =~ /^mmap\(.*, (\d+)<([^>]*)>, /) {
				$p = $2;
			}
			next unless defined $p;
			$p = dec($p);
			next unless index($p, "$root/") == 0 && -f $p && !-l $p;
			$seen{$p} = 1;
		}
		print map { "$_\0" } sort keys %seen;
	' "$1" "$2"
}

# nul_list FILE: a NUL-separated listing as readable lines for diagnostics.
nul_list() {
	tr '\0' '\n' <"$1" | cat -v
}

# ---- a running fsindexd (daemon.sh, sync.sh, excludefs.sh) ----------------------

# wait_for FILE REGEX [SECS]: until a line of FILE matches (default 20 s).
wait_for() {
	local n=$((${3:-20} * 20))
	while [ $n -gt 0 ]; do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}
# index_has PATH / index_lacks PATH: fsindex find lists PATH exactly / does not.
index_has() {
	FSI find "$1" 2>/dev/null | grep -qxF -- "$1"
}
index_lacks() {
	! index_has "$1"
}
# poll_until DESC CMD...: CMD succeeds within 20 s (events settle in 50 ms).
poll_until() {
	local desc=$1 n=400
	shift
	until "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		if [ $n -eq 0 ]; then
			fail "$desc"
			diag "still not true after 20 s: $*"
			return 1
		fi
		sleep 0.05
	done
	pass "$desc"
}
