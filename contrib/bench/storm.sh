#!/bin/bash
# storm.sh — fsindexd under a storm, alone and repeated: `cp -a` of a
# generated subtree into a watched root, then `rm -rf` of it, each timed
# until the index equals `find -P` again; beside a fresh `fsindex scan` of
# the same subtree.  The daemon's debug log counts its rescan jobs and the
# directories they walked.  (daemon.sh runs one storm among its other
# measures; this is the quick loop for working on convergence.)
#
# usage: storm.sh [--files N] [--sub N] [--runs N] [--modes "fanotify inotify"]
#                 [--index-on-tmpfs] [--dir WORKDIR]
#
#   --files N   files in the watched tree (default 20000)
#   --sub N     files in the storm subtree (default 30000; ~N/4 directories)
#   --runs N    storms per mode, medians reported (default 3)
#   --modes L   watch modes, FSINDEXD_WATCH values (default "fanotify inotify")
#   --index-on-tmpfs  the indexes on the tmpfs too (no disk: commits cost
#               no fsync wait, for a machine whose disk others share)
#   --dir W     work directory (default /tmp/fsindex-bench-storm)
#
# Root only (tmpfs mount, fanotify).  Prints a markdown table; the per-run
# numbers and the daemon's logs stay in WORKDIR/results.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
prog=storm.sh
# shellcheck source=common.sh
. "$here/common.sh"

nfiles=20000 nsub=30000 runs=3 modes="fanotify inotify" work=/tmp/fsindex-bench-storm dbdir=
while [ $# -gt 0 ]; do
	case $1 in
	--files) num "$1" "${2-}"; nfiles=$2; shift ;;
	--sub) num "$1" "${2-}"; nsub=$2; shift ;;
	--runs) num "$1" "${2-}"; runs=$2; shift ;;
	--modes) modes=${2:?--modes needs a value}; shift ;;
	--index-on-tmpfs) dbdir=mnt ;;
	--dir) work=${2:?--dir needs a value}; shift ;;
	-h | --help) usage ;;
	*) echo "$prog: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "$prog: needs root (tmpfs mount, fanotify)" >&2; exit 1; }
check_paths
FSINDEXD=${FSINDEXD:-$top/fsindexd}
NL=$top/tests/helpers/notify-listen
[ -x "$NL" ] || make -C "$top" tests/helpers/notify-listen >&2
hz=$(getconf CLK_TCK)

mnt=$work/mnt root=$work/mnt/tree src=$work/mnt/storm-src run=$work/run
db=$work/${dbdir:+$dbdir/}db sub_db=$work/${dbdir:+$dbdir/}db-sub
conf=$work/fsindex.conf res=$work/results
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	mountpoint -q "$mnt" && umount "$mnt"
	rm -rf "$db" "$sub_db" "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$mnt" "$run" "$res"
mountpoint -q "$mnt" && umount "$mnt"
mount -t tmpfs -o size=$(((nfiles + 2 * nsub) * 8 / 1024 + 256))m,nr_inodes=$(((nfiles + 2 * nsub) * 3 + 100000)) \
	fsindex-bench "$mnt"
exec {sleepfd}<> <(:)
nap() { read -r -t "$1" -u $sleepfd _ || true; }
"$here/gentree.sh" --force --total $((nfiles * 300)) "$root" "$nfiles" 5 >&2
"$here/gentree.sh" --force --total $((nsub * 30)) "$src" "$nsub" 6 >&2
sub_entries=$(find -P "$src" | wc -l)
sub_dirs=$(find -P "$src" -type d | wc -l)
printf '[index]\nroots = %s\ndb = %s\n' "$root" "$db" >"$conf"

rss_anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$dpid/status"; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$dpid/stat"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# start_daemon MODE: fsindexd with debug logs, each line stamped, into $log.
start_daemon() {
	local n=200
	"$NL" "$run/notify.sock" >"$run/notify" &
	pids+=($!)
	nlpid=$!
	while [ ! -S "$run/notify.sock" ] && [ $n -gt 0 ]; do nap 0.01; n=$((n - 1)); done
	log=$res/$1.log
	FSINDEXD_DEBUG=1 FSINDEXD_WATCH=$1 XDG_RUNTIME_DIR=$run NOTIFY_SOCKET=$run/notify.sock \
		"$FSINDEXD" --user --config "$conf" --db "$db" \
		2> >(perl -MTime::HiRes=time -ne 'BEGIN { $| = 1 } printf "%.6f %s", time, $_' >"$log") &
	dpid=$!
	pids+=($dpid)
	n=3000
	until grep -q 'STATUS=watching' "$run/notify"; do
		n=$((n - 1)); [ $n -gt 0 ] || { echo "$prog: no first scan" >&2; exit 1; }
		nap 0.02
	done
}
stop_daemon() {
	kill -TERM "$dpid" 2>/dev/null || true
	wait "$dpid" 2>/dev/null || true
	kill -TERM "$nlpid" 2>/dev/null || true
	wait "$nlpid" 2>/dev/null || true
	rm -f "$run/notify.sock"
}
# idx DIR: the index's paths at and below DIR, sorted (none when DIR is not in it).
idx() { { "$FSINDEX" find --db "$db" "$1" 2>/dev/null || true; } | LC_ALL=C sort; }
# until_eq DIR WANT: poll until idx DIR is WANT's content (120 s at most).
until_eq() {
	local n=1200
	until idx "$1" | cmp -s - "$2"; do
		n=$((n - 1))
		if [ $n -eq 0 ]; then
			echo "$prog: $1 not converged in 120 s; index vs want:" >&2
			"$FSINDEX" find --db "$db" "$1" >"$res/got" 2>&1 || true
			diff "$res/got" "$2" | head -n 20 >&2 || true
			return 1
		fi
		nap 0.02
	done
}
# jobs_since T: "jobs dirs last" of the rescans logged after T: jobs, directory
# entries seen (statx'ed in listings, and the directories walked from), the
# last one's time.
jobs_since() {
	awk -v t="$1" '$1 > t && /rescanned \047/ {
			n++; d += substr($0, index($0, "): ") + 3) + 0; last = $1 }
		END { printf "%d %d %s\n", n, d, last ? last : t }' "$log"
}
# quiet: wait until the log has had no new line for 2 s.
quiet() {
	local a b
	while :; do
		a=$(wc -l <"$log"); nap 2; b=$(wc -l <"$log")
		[ "$a" = "$b" ] && return 0
	done
}

storm() {
	local m=$1 i=$2 t0 t1 t2 t3 t4 c0 c1 c2 spid j conv=ok
	( while [ -e "/proc/$dpid/status" ]; do rss_anon; nap 0.05; done ) >"$res/$m.$i.rss" 2>/dev/null &
	spid=$!
	pids+=($spid)
	find -P "$src" | sed "s|^$src|$root/storm|" | LC_ALL=C sort >"$work/want"
	c0=$(cpu_ticks)
	t0=$(now)
	cp -a "$src" "$root/storm"
	t1=$(now)
	until_eq "$root/storm" "$work/want" || conv=timeout
	t2=$(now)
	quiet
	c1=$(cpu_ticks)
	read -r cj cd clast <<<"$(jobs_since "$t0")"
	t3=$(now)
	rm -rf "$root/storm"
	t4=$(now)
	: >"$work/none"
	until_eq "$root/storm" "$work/none" || conv=timeout
	t5=$(now)
	quiet
	c2=$(cpu_ticks)
	read -r rj rd rlast <<<"$(jobs_since "$t3")"
	kill "$spid"; wait "$spid" 2>/dev/null || true
	find -P "$root" | LC_ALL=C sort >"$work/want-root"
	idx "$root" | cmp -s - "$work/want-root" && j=yes || j=NO
	printf '%s %s cp=%s cpconv=%s cpbusy=%s cpjobs=%s cpdirs=%s cpcpu=%s rm=%s rmconv=%s rmbusy=%s rmjobs=%s rmdirs=%s rmcpu=%s rss=%s conv=%s equal=%s\n' \
		"$m" "$i" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" "$(secs "$t1" "$clast")" \
		"$cj" "$cd" "$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')" \
		"$(secs "$t3" "$t4")" "$(secs "$t4" "$t5")" "$(secs "$t4" "$rlast")" "$rj" "$rd" \
		"$(awk -v a="$c1" -v b="$c2" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')" \
		"$(sort -n "$res/$m.$i.rss" | tail -n 1)" "$conv" "$j" | tee -a "$res/runs"
}

: >"$res/runs"
for m in $modes; do
	rm -rf "$db"
	say "$m: start"
	start_daemon "$m"
	for ((i = 1; i <= runs; i++)); do
		say "$m: storm $i of $runs ($sub_entries entries, $sub_dirs directories)"
		storm "$m" "$i"
	done
	stop_daemon
done

say "fresh scans of the subtree"
: >"$res/scan"
for ((i = 0; i <= runs; i++)); do
	rm -rf "$sub_db"
	t0=$(now)
	"$FSINDEX" scan --db "$sub_db" -q "$src"
	t1=$(now)
	[ $i -gt 0 ] && echo "$(secs "$t0" "$t1")" >>"$res/scan"	# the first warms up
done
scan=$(sort -n "$res/scan" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

# med MODE KEY: the median of KEY over MODE's runs.
med() {
	awk -v m="$1" -v k="$2" '$1 == m { for (i = 3; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == k) print kv[2] } }' "$res/runs" | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
read -r load1 load5 _ </proc/loadavg
echo
echo "\`contrib/bench/storm.sh --files $nfiles --sub $nsub --runs $runs\`: storm subtree of $sub_entries"
echo "entries ($sub_dirs directories) into a tree of $nfiles files on a tmpfs; $(nproc) CPUs, load"
echo "$load1/$load5 at the end; medians of $runs; fresh \`fsindex scan\` of the subtree: $scan s;"
if [ -n "$dbdir" ]; then echo "the indexes on the tmpfs."; else echo "the indexes on disk (WORKDIR)."; fi
echo
printf '| Measure |'; for m in $modes; do printf ' %s |' "$m"; done; echo
printf '|:---|'; for m in $modes; do printf -- '---:|'; done; echo
row() { printf '| %s |' "$1"; for m in $modes; do printf ' %s |' "$(eval "echo \"$2\"")"; done; echo; }
row "cp -a took" '$(med $m cp) s'
row "cp: index equal to find -P after cp ended" '$(med $m cpconv) s ($(awk -v a=$(med $m cpconv) -v b=$scan "BEGIN{printf \"%.1fx\", a/b}") the fresh scan)'
row "cp: last rescan ended after cp ended" '$(med $m cpbusy) s'
row "cp: rescan jobs / directory entries seen" '$(med $m cpjobs) / $(med $m cpdirs)'
row "cp: daemon CPU" '$(med $m cpcpu) s'
row "rm -rf took" '$(med $m rm) s'
row "rm: index equal to find -P after rm ended" '$(med $m rmconv) s ($(awk -v a=$(med $m rmconv) -v b=$scan "BEGIN{printf \"%.1fx\", a/b}") the fresh scan)'
row "rm: last rescan ended after rm ended" '$(med $m rmbusy) s'
row "rm: rescan jobs / directory entries seen" '$(med $m rmjobs) / $(med $m rmdirs)'
row "rm: daemon CPU" '$(med $m rmcpu) s'
row "peak RssAnon" '$(awk -v k=$(med $m rss) "BEGIN{printf \"%.1f\", k/1024}") MiB'
row "converged within 120 s / whole root equal to find -P at the end" '$(awk -v m=$m "\$1 == m { print \$(NF - 1), \$NF }" "$res/runs" | sort | uniq -c | tr "\n" " ")'
