#!/bin/bash
# SPDX-License-Identifier: MIT
#
# storm.sh - a real fsindexd under a storm, in each watch mode the machine
# has (fanotify as root, inotify): `cp -a` of a generated tree of 5000 files
# in 1110 directories into the root, then `rm -rf` of it, each until the
# index equals find(1) over the root (paths, type, size, mtime).  The
# daemon's debug log counts its rescan jobs, the directories they walked
# from and the directory entries they saw: the copy sees each directory a
# few times at most, and the removal, its events all taken in at once (the
# daemon stopped meanwhile), costs a listing or two, not one per directory
# removed.  Then directories removed one
# after the other while a slow job runs (FSINDEXD_TEST_FILE_DELAY_MS) are
# taken in by one job after it, not one per settle window.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"
command -v perl >/dev/null || bail "perl not found"

mkdir -p "$T/run"
export XDG_RUNTIME_DIR=$T/run
unset NOTIFY_SOCKET
fast_dir "$T/fs"
SRC=$T/fs/src

# The storm: 10 top directories of 10 of 10 (1110), 10 files in each top
# one, 9 in each middle one, 4 in each leaf (5000), a symlink in each top
# one; sizes vary, mtimes are old (cp -a keeps them).
perl -e '
	my $src = shift;
	sub f { my ($p, $n) = @_; open(my $f, ">", $p) or die "$p: $!"; print $f "x" x $n; }
	mkdir $src or die;
	for my $a (0 .. 9) {
		my $t = "$src/top$a";
		mkdir $t or die;
		symlink("../top" . (9 - $a), "$t/peer") or die;
		f("$t/file$_", $a * 10 + $_) for 0 .. 9;
		for my $b (0 .. 9) {
			my $m = "$t/mid$b";
			mkdir $m or die;
			f("$m/file $_", $b + $_) for 0 .. 8;
			for my $c (0 .. 9) {
				mkdir "$m/leaf$c" or die;
				f("$m/leaf$c/f$_.dat", $c * $_) for 0 .. 3;
			}
		}
	}
' "$SRC" || bail "cannot make the storm tree"
find "$SRC" -exec touch -h -d '3 hours ago' {} +
ndirs=$(find "$SRC" -type d | wc -l)
nfiles=$(find "$SRC" -type f | wc -l)
is "$ndirs/$nfiles" "1111/5000" "the storm tree: 1110 directories (and its top), 5000 files"

# start MODE ROOT TAG [ENV...]: fsindexd --user over ROOT with debug logs in
# $T/TAG.err; sets $dpid and $log.
start() {
	local mode=$1 root=$2 tag=$3
	shift 3
	printf '[index]\nroots = %s\n' "$root" >"$T/$tag.conf"
	log=$T/$tag.err
	env "$@" FSINDEXD_DEBUG=1 FSINDEXD_WATCH="$mode" "$FSINDEXD" --user \
		--config "$T/$tag.conf" --db "$DB" 2>"$log" &
	dpid=$!
	track_pid $dpid
	wait_for "$log" "scanned '$root'" 60 || diag "no start-up reconcile of $root"
}
stop() {
	kill -TERM "$dpid" 2>/dev/null
	wait_timeout "$dpid" 10
}
# converged ROOT: the whole index equals find over ROOT (paths, type, size, mtime).
converged() {
	cmp -s <(oracle_meta "$1") <(index_meta)
}
# until_converged DESC ROOT: poll converged ROOT for up to 120 s.
until_converged() {
	local n=1200
	until converged "$2"; do
		n=$((n - 1))
		if [ $n -eq 0 ]; then
			fail "$1"
			oracle_meta "$2" >"$T/oracle.meta"
			index_meta >"$T/index.meta"
			same_bytes "$1 (the difference)" "$T/index.meta" "$T/oracle.meta"
			return 1
		fi
		sleep 0.1
	done
	pass "$1"
}
# jobs_after LINE: "jobs seen from" of the rescans logged after line LINE of
# $log: jobs, directory entries seen (and walked from), directories walked from.
jobs_after() {
	tail -n +"$(($1 + 1))" "$log" | perl -ne '
		next unless /^<7>rescanned .* \(\d+ directories\): (\d+) dirs, .* moved, (\d+) walked from$/;
		$j++; $d += $1; $t += $2;
		END { printf "%d %d %d\n", $j, $d, $t }'
}
mark() { wc -l <"$log"; }
# within N LO HI: LO <= N <= HI.
within() {
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}
# quiet: the daemon ran no job for 1 s and is idle (not `find --sync`: its
# cookie file would be one more event); 60 s at most.
quiet() {
	local n=600 same=0 last= now
	while [ $n -gt 0 ] && [ $same -lt 10 ]; do
		now=$("$FSINDEX" status --user --json 2>/dev/null |
			grep -oE '"jobs_done":[0-9]+,"busy":false')
		if [ -n "$now" ] && [ "$now" = "$last" ]; then
			same=$((same + 1))
		else
			same=0 last=$now
		fi
		sleep 0.1
		n=$((n - 1))
	done
}

modes=inotify
is_root && modes="fanotify $modes"
for mode in $modes; do
	R=$T/fs/root-$mode
	DB=$T/db-$mode
	mkdir -p "$R/keep"
	echo keep >"$R/keep/f"
	start "$mode" "$R" "$mode"
	if [ "$mode" = fanotify ] && ! "$FSINDEX" status --user 2>/dev/null | grep -qF "root $R: fanotify"; then
		skip "fanotify: storm" "the kernel grants no filesystem mark here"
		stop
		continue
	fi

	m=$(mark)
	cp -a "$SRC" "$R/storm" || fail "$mode: cp -a"
	until_converged "$mode: after cp -a of the tree, the index equals find over the root" "$R"
	quiet
	read -r jobs walked from <<<"$(jobs_after "$m")"
	diag "$mode: cp -a: $jobs rescan jobs saw $walked directory entries"
	# Each directory is seen in its parent's listings too, at most once per
	# 50 ms window while its parent is being filled (the storm's top one,
	# for the whole copy: slower on a disk): a few times each; the subtree
	# walked again each window would be a hundred.
	ok "$mode: cp -a: $walked directory entries seen, 1 to 8 times each of the $ndirs" \
		within "$walked" "$ndirs" $((8 * ndirs))

	# All of rm's events in one read: the daemon is stopped while it runs.
	m=$(mark)
	kill -STOP "$dpid"
	rm -rf "$R/storm"
	kill -CONT "$dpid"
	until_converged "$mode: after rm -rf of it, the index equals find over the root" "$R"
	quiet
	read -r jobs walked from <<<"$(jobs_after "$m")"
	diag "$mode: rm -rf: $jobs rescan jobs walked from $from directories, saw $walked"
	ok "$mode: rm -rf of $ndirs directories taken in by at most 2 rescan jobs ($jobs)" \
		within "$jobs" 1 2
	ok "$mode: ... walking from at most 2 directories each, not from every one removed ($from)" \
		[ "$from" -le $((2 * jobs)) ]
	ok "$mode: ... and seeing a handful of directories, not the $ndirs removed ($walked)" \
		[ "$walked" -le 10 ]
	ok "$mode: the daemon is still running" kill -0 "$dpid"
	stop
	is "$rc" 0 "$mode: the daemon stops with exit 0"
done

# ---- while a job runs ------------------------------------------------------
#
# A rescan of slow/ (40 files, 100 ms each: 4 s) runs while ten directories of
# gone/, each a tree of empty directories (no file: no delay), are removed
# 0.1 s apart: ten settle windows, one job after the slow one.

mode=${modes%% *}
R=$T/fs/slow-root
DB=$T/db-slow
mkdir -p "$R/slow"
for i in $(seq 40); do echo "$i" >"$R/slow/f$i"; done
for i in $(seq 0 9); do
	for j in $(seq 0 9); do mkdir -p "$R/gone/d$i/e$j/x" "$R/gone/d$i/e$j/y"; done
done
start "$mode" "$R" slow FSINDEXD_TEST_FILE_DELAY_MS=100
m=$(mark)
echo more >>"$R/slow/f1"
n=100
until FSI_TIMEOUT=5 "$FSINDEX" status --user 2>/dev/null |
	grep -qF "rescanning 1 directory under $R"; do
	n=$((n - 1)); [ $n -gt 0 ] || break; sleep 0.02
done
ok "$mode: the slow rescan is running" [ $n -gt 0 ]
for i in $(seq 0 9); do
	rm -rf "$R/gone/d$i"
	sleep 0.1
done
still=$("$FSINDEX" status --user 2>/dev/null | grep -cF "rescanning $R/slow")
until_converged "$mode: after the removals, the index equals find over the root" "$R"
quiet
read -r jobs walked from <<<"$(jobs_after "$m")"
diag "$mode: slow job, then $((jobs - 1)) jobs for ten removals, seeing $walked directories"
if [ "$still" = 1 ]; then
	ok "$mode: ten removals while a job ran: one more job, not one per window ($((jobs - 1)))" \
		[ "$jobs" -eq 2 ]
else
	skip "$mode: ten removals while a job ran: one more job" \
		"the slow job ended before the removals did (a loaded machine)"
fi
stop
is "$rc" 0 "$mode: the daemon stops with exit 0"

done_testing
