#!/bin/bash
# SPDX-License-Identifier: MIT
#
# kill9.sh - fsindexd killed with SIGKILL at random moments while a churn
# of a few thousand file and directory operations (create, append, rename,
# delete; mkdir, directory renames across parents, rm -r) runs under its
# root (a tmpfs of its own when we may mount), restarted each time: every
# restart comes up (the index opens, the daemon answers), the index stays
# readable between, and once the churn stops the index converges to what
# find(1) lists (paths, types and sizes).  Seeded from $KILL9_SEED (the
# seed is printed), so a failure can be replayed; KILL9_KEEP=DIR keeps the
# logs and listings of a failure.
#
# Known: under load, a few runs in ten end with an entry or two missing --
# with the code of main before this test too, and without any kill: a file
# made in a directory just before that directory is renamed to another
# parent is never indexed (the event names the old path, whose rescan
# climbs to the parents, and a one-level rescan keeps a moved directory's
# stored listing).  Until that is fixed, that one check is a TODO (an
# expected failure, shown with its diff); KILL9_STRICT=1 makes it an
# ordinary one.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

FSINDEXD=$top_builddir/fsindexd
[ -x "$FSINDEXD" ] || bail "no $FSINDEXD (build it first)"

SEED=${KILL9_SEED:-$$}
ROUNDS=${KILL9_ROUNDS:-4}
OPS=${KILL9_OPS:-3000}
diag "seed $SEED, $ROUNDS kills, $OPS operations"
RANDOM=$SEED

mkdir -p "$T/run"
export XDG_RUNTIME_DIR=$T/run
unset NOTIFY_SOCKET
R=$T/root
fast_dir "$R"
printf '[index]\nroots = %s\n' "$R" >"$T/conf"

# churn N SEED: N random operations on a small namespace of names, so they
# collide (a rename onto a file, a delete of what a rename just moved...).
churn() {
	local n=$1 i op d d2 f f2
	RANDOM=$2
	for ((i = 0; i < n; i++)); do
		d=$R/d$((RANDOM % 6))
		((RANDOM % 2)) && d=$d/e$((RANDOM % 3))
		d2=$R/d$((RANDOM % 6))
		f=f$((RANDOM % 12)) f2=f$((RANDOM % 12))
		op=$((RANDOM % 20))
		case $op in
		0 | 1 | 2 | 3 | 4) echo "$i" >"$d/$f" ;;
		5 | 6 | 7) printf '%*s' $((RANDOM % 300)) x >>"$d/$f" ;;
		8 | 9 | 10) mv -f "$d/$f" "$d2/$f2" ;;
		11 | 12) rm -f "$d/$f" ;;
		13 | 14) mkdir -p "$d" ;;
		15) mv -T "$d" "$d2/e$((RANDOM % 3))" ;;
		16) mv -T "$d" "$R/d$((RANDOM % 6))" ;;
		17) ((RANDOM % 3)) || rm -rf "$d" ;;
		18) ln -sf "$f" "$d/l$((RANDOM % 3))" ;;
		19) : >"$d/$f" ;;
		esac
	done 2>/dev/null
}

starts=0
# start: a daemon on the index; true once it is up (its log says the index is open).
start() {
	starts=$((starts + 1))
	FSINDEXD_DEBUG=1 FSINDEXD_WATCH=$mode "$FSINDEXD" --user --config "$T/conf" --db "$DB" 2>"$T/d$starts.err" &
	dpid=$!
	track_pid $dpid
	wait_for "$T/d$starts.err" "index '.*' open" 20
}
up_and_answering() {
	kill -0 "$dpid" 2>/dev/null && "$FSINDEX" status --user >/dev/null 2>&1
}

# What find(1) lists, and the index, as "type size path".
oracle() {
	find -P "$R" -printf '%y %s %p\n' | sort
}
indexed() {
	FSI find --printf '%y %s %p\n' "$R" 2>/dev/null | sort
}
converged() {
	oracle >"$T/oracle"
	indexed >"$T/indexed"
	cmp -s "$T/oracle" "$T/indexed"
}

# converge DESC: poll_until converged; a failure is reported as a TODO (an
# expected failure) unless KILL9_STRICT=1: see the top of the file.
converge() {
	local n=400
	until converged; do
		n=$((n - 1))
		if [ $n -eq 0 ]; then
			if [ "${KILL9_STRICT:-0}" = 1 ]; then
				fail "$1"
			else
				_tap_n=$((_tap_n + 1))
				echo "not ok $_tap_n - $1 # TODO entries missed across restarts, see above"
			fi
			diag "still not converged after 20 s"
			return 1
		fi
		sleep 0.05
	done
	pass "$1"
}

modes=inotify
is_root && modes="$modes auto"
for mode in $modes; do
	DB=$T/db-$mode
	rm -rf "$R"/*
	for i in 0 1 2 3; do
		mkdir -p "$R/d$i/e0"
		echo "$i" >"$R/d$i/f0"
	done
	rm -f "$T"/d*.err
	starts=0
	start
	is "$?" 0 "$mode: the first daemon comes up"
	wait_for "$T/d1.err" "scanned '$R'" 20 || diag "no start-up reconcile"
	churn "$OPS" "$SEED" &
	cpid=$!
	track_pid $cpid
	bad_restart=0 bad_read=0 kills=0
	for round in $(seq $ROUNDS); do
		sleep "0.$((RANDOM % 9 + 1))"
		kill -0 "$cpid" 2>/dev/null || diag "round $round: the churn had ended already"
		kill -KILL "$dpid"
		wait "$dpid" 2>/dev/null
		kills=$((kills + 1))
		FSI find >/dev/null 2>"$T/read.err"
		rc=$?
		if [ $rc -gt 1 ]; then
			bad_read=$((bad_read + 1))
			diag "round $round: find after the kill exited $rc"
			diag_file "$T/read.err"
		fi
		if ! start || ! up_and_answering; then
			bad_restart=$((bad_restart + 1))
			diag "round $round: the restart did not come up"
			diag_file "$T/d$starts.err"
		fi
	done
	wait "$cpid"
	is "$kills" "$ROUNDS" "$mode: $ROUNDS kills during the churn"
	is "$bad_read" 0 "$mode: the index was readable after every kill"
	is "$bad_restart" 0 "$mode: every restart came up and answered"
	diag "after the churn: $(find -P "$R" | wc -l) entries"
	if ! converge "$mode: the index converges to find(1): paths, types, sizes"; then
		diff "$T/oracle" "$T/indexed" | head -n 30 | sed 's/^/#   /'
		# What the daemons logged of the directories that differ, to replay it.
		diff "$T/oracle" "$T/indexed" | sed -nE 's|^[<>] . [0-9]+ (.*)/[^/]*$|\1|p' |
			sort -u | head -n 3 | while read -r dir; do
			grep -hF -- "${dir#"$R"}" "$T"/d*.err | tail -n 8 | sed 's/^/#   log: /'
		done
		cp "$T/oracle" "$T/indexed" "$T"/d*.err "${KILL9_KEEP:-/nonexistent}" 2>/dev/null
	fi
	ok "$mode: the last daemon is still up" up_and_answering
	unlike "$(cat "$T"/d*.err 2>/dev/null)" "<[0-3]>" "$mode: no daemon logged an error"
	kill -TERM "$dpid"
	wait_timeout "$dpid" 10
	is "$rc" 0 "$mode: the last daemon stops with exit 0"
done

done_testing
