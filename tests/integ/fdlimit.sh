#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fdlimit.sh - low descriptor limits: `scan`, `scan --hash` and `dups` under
# `ulimit -n` 7, 8, 12, 16 and 32, with -j1, -j2, -j8 and --io=sync, over a
# tree of a few thousand entries (wide, and a 60-deep chain, so directories
# are reopened from their ancestors; files past the 256 KiB a read round
# takes; a group of duplicates).  Each run either completes - exit 0, the
# index equal to find's, every hash equal to xxh128sum's, the duplicate
# groups those of xxh128sum - from 8 on, where bfs walks too; at 7, below
# what the index, stdio and one walker need, it exits 2 naming the limit and
# leaves no entry indexed.  Never a partial
# index with one "Too many open files" per entry.  Then the same with the
# plan made for far more descriptors than there are, so that the walk has
# to adapt when it meets EMFILE.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

command -v xxh128sum >/dev/null || bail "xxh128sum not found (Debian package xxhash)"
have_json_pp || bail "perl with JSON::PP not found"

# ---- the tree --------------------------------------------------------------------

R=$T/r
fast_dir "$R"
perl -e '
	my $r = shift;
	sub put { my ($p, $s) = @_; open(my $f, ">", $p) or die "$p: $!"; print $f $s; close $f }
	my $seed = "duplicate content\n" x 300;
	for my $d (1 .. 25) {
		for my $e (1 .. 6) {
			my $dir = "$r/d$d/e$e";
			mkdir "$r/d$d"; mkdir $dir or die "$dir: $!";
			put("$dir/f$_", "file $d $e $_\n" x ($_ * 7)) for 1 .. 20;
		}
		put("$r/d$d/e1/dup", $seed);
	}
	my $p = "$r/deep";
	mkdir $p or die "$p: $!";
	for my $i (1 .. 60) {
		$p .= "/l$i";
		mkdir $p or die "$p: $!";
		put("$p/at-$i", "depth $i\n");
	}
	# Past one read round (2 x 128 KiB), distinct, and two equal ones.
	put("$r/big$_", pack("N", $_) x (100000 + $_ * 1000)) for 1 .. 4;
	put("$r/d1/twin-a", "twin " x 120000);
	put("$r/d2/twin-b", "twin " x 120000);
' "$R" || bail "cannot build the tree"
find -P "$R" -exec touch -h -d '2020-02-02 12:00:00.5 UTC' {} +
sleep 1.1
nentries=$(find -P "$R" -printf . | wc -c)
diag "$nentries entries"

oracle_paths "$R" >"$T/oracle.paths"
oracle_meta "$R" >"$T/oracle.meta"
# The names are plain: xxh128sum can take them all at once.
(cd / && find -P "$R" -type f -print0 | xargs -0 xxh128sum 2>/dev/null) |
	awk '{ printf "%s %s%c", $1, $2, 0 }' | sort -z >"$T/oracle.hashes"
# Duplicate groups: files (none empty, no hard links here) sharing a hash,
# one line per group, its paths sorted and joined with '|', lines sorted.
perl -0 -ne 'chomp; my ($h, $p) = split / /, $_, 2; push @{$g{$h}}, $p;
	END { print join("|", sort @{$g{$_}}), "\n" for grep { @{$g{$_}} > 1 } keys %g }' \
	<"$T/oracle.hashes" | sort >"$T/oracle.groups"
is "$(wc -l <"$T/oracle.groups")" 2 "the oracle sees two groups of duplicates"

# groups_of FILE: dups -0 output as the oracle's lines.
groups_of() {
	perl -e 'local $/ = "\0"; my (@g, @cur);
		while (my $p = <STDIN>) { chomp $p; if ($p eq "") { push @g, join("|", sort @cur) if @cur; @cur = () } else { push @cur, $p } }
		push @g, join("|", sort @cur) if @cur;
		print "$_\n" for sort @g' <"$1"
}

# limited N CMD ARGS...: fsindex CMD --db "$DB" ARGS with `ulimit -n N` (soft
# and hard, so it cannot be raised again), descriptors 3-9 the test harness
# may have left open closed first; stdout to $T/out, stderr to $T/err, $rc.
limited() {
	local n=$1
	shift
	(
		exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
		ulimit -n "$n" || exit 99
		FSI "$@"
	) >"$T/out" 2>"$T/err"
	rc=$?
}

# refused N DESC: exit 2 with a message naming the limit, nothing indexed.
refused() {
	is "$rc" 2 "$2: exit 2"
	like "$(cat "$T/err")" "too few file descriptors: the limit \\(ulimit -n\\) is $1 " \
		"$2: the message names the limit"
	unlike "$(cat "$T/err")" "Too many open files" "$2: no per-entry errors"
	is "$(FSI find --count "$R" 2>/dev/null)" 0 "$2: no entry indexed"
}

# completed DESC: exit 0, a clean summary, no "Too many open files".
completed() {
	if is "$rc" 0 "$1: exit 0"; then
		unlike "$(cat "$T/err")" "Too many open files|cannot | [1-9][0-9]* errors" "$1: no errors"
	else
		diag_file "$T/err" 10
	fi
}

for lim in 7 8 12 16 32; do
	for mode in "-j1" "-j2" "-j2 --io=sync" "-j8"; do
		# shellcheck disable=SC2086 # $mode is a list of options
		set -- $mode
		what="ulimit -n $lim, $mode"

		DB=$T/db-scan-$lim-${mode// /}
		limited "$lim" scan "$@" "$R"
		if [ "$lim" -lt 8 ]; then
			refused "$lim" "scan, $what"
		else
			completed "scan, $what"
			index_paths >"$T/index.paths"
			same_bytes "scan, $what: every path" "$T/index.paths" "$T/oracle.paths"
			index_meta >"$T/index.meta"
			same_bytes "scan, $what: type, size, mtime" "$T/index.meta" "$T/oracle.meta"
		fi

		DB=$T/db-hash-$lim-${mode// /}
		limited "$lim" scan --hash "$@" "$R"
		if [ "$lim" -lt 8 ]; then
			refused "$lim" "scan --hash, $what"
		else
			completed "scan --hash, $what"
			index_hashes >"$T/index.hashes"
			same_bytes "scan --hash, $what: every hash" "$T/index.hashes" "$T/oracle.hashes"
		fi

		DB=$T/db-dups-$lim-${mode// /}
		limited "$lim" dups -0 "$@" "$R"
		if [ "$lim" -lt 8 ]; then
			refused "$lim" "dups, $what"
		else
			completed "dups, $what"
			groups_of "$T/out" >"$T/groups"
			same_bytes "dups, $what: the groups" "$T/groups" "$T/oracle.groups"
		fi
	done
done

# Planned for far more descriptors than there are (FSINDEX_DEBUG_FDS): the
# walk and the reads meet EMFILE as they go and adapt to it - directories
# closed and opened again, reads waiting for one another, io_uring given up
# for pread - and still index, hash and group everything.
for mode in "-j1" "-j2" "-j2 --io=sync"; do
	# shellcheck disable=SC2086
	set -- $mode
	what="ulimit -n 16, planned for 100000, $mode"
	export FSINDEX_DEBUG_FDS=100000
	DB=$T/db-adapt-hash-${mode// /}
	limited 16 scan --hash "$@" "$R"
	completed "scan --hash, $what"
	index_hashes >"$T/index.hashes"
	same_bytes "scan --hash, $what: every hash" "$T/index.hashes" "$T/oracle.hashes"
	DB=$T/db-adapt-dups-${mode// /}
	limited 16 dups -0 "$@" "$R"
	completed "dups, $what"
	groups_of "$T/out" >"$T/groups"
	same_bytes "dups, $what: the groups" "$T/groups" "$T/oracle.groups"
	unset FSINDEX_DEBUG_FDS
done

# The index left by a limited scan rescans cleanly under the same limit.
DB=$T/db-scan-12--j2
limited 12 scan -j2 "$R"
completed "rescan, ulimit -n 12, -j2"
like "$(cat "$T/err")" "scanned [0-9]+ dirs, [0-9]+ files, 0 errors" "rescan: the summary counts no errors"

done_testing
