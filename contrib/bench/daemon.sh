#!/bin/bash
# daemon.sh — fsindexd benchmark: how soon changes show in `fsindex find`,
# under load and in a storm, idle cost, restart time, and memory; beside
# inotifywait -m -r and plocate's updatedb on the same tree.
#
# usage: daemon.sh [--files N] [--changes N] [--churn-seconds S] [--churn-rate R]
#                  [--idle-seconds S] [--modes "fanotify inotify"] [--full]
#                  [--dir WORKDIR] [--out FILE]
#
#   --files N          files in the generated tree (default 200000; env FILES)
#   --changes N        changes of each kind (create, rename, delete) timed per
#                      mode (default 200; env CHANGES)
#   --churn-seconds S  length of the background churn (default 30)
#   --churn-rate R     file operations a second during the churn (default 1000)
#   --idle-seconds S   idle measurement (default 20)
#   --modes LIST       watch modes, FSINDEXD_WATCH values (default "fanotify inotify")
#   --full             the full run: --files 1000000 --changes 1000 --idle-seconds 60
#   --dir WORKDIR      work directory (default /tmp/fsindex-bench-daemon)
#   --out FILE         markdown results (default contrib/bench/results-daemon.md)
#
# Root only: the tree lives on a tmpfs mounted for the run at WORKDIR/mnt
# (so no other process's writes reach a fanotify filesystem mark), the index
# outside it in WORKDIR.  Everything is unmounted and removed at the end.
# Needs ./fsindexd, ./fsindex and tests/helpers/notify-listen (make check
# builds it; this script runs `make` for it), perl, hyperfine,
# inotifywait (inotify-tools) and updatedb (plocate).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
prog=daemon.sh
# shellcheck source=common.sh
. "$here/common.sh"

nfiles=${FILES:-200000} changes=${CHANGES:-200} churn_s=30 churn_rate=1000
idle_s=20 modes="fanotify inotify" work=/tmp/fsindex-bench-daemon
out=$here/results-daemon.md idle_wait=0
while [ $# -gt 0 ]; do
	case $1 in
	--files) num "$1" "${2-}"; nfiles=$2; shift ;;
	--changes) num "$1" "${2-}"; changes=$2; shift ;;
	--churn-seconds) num "$1" "${2-}"; churn_s=$2; shift ;;
	--churn-rate) num "$1" "${2-}"; churn_rate=$2; shift ;;
	--idle-seconds) num "$1" "${2-}"; idle_s=$2; shift ;;
	--modes) modes=${2:?--modes needs a value}; shift ;;
	--full) nfiles=1000000 changes=1000 idle_s=60 ;;
	--dir) work=${2:?--dir needs a value}; shift ;;
	--out) out=${2:?--out needs a value}; shift ;;
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
deps hyperfine:hyperfine inotifywait:inotify-tools updatedb:plocate perl:perl
hz=$(getconf CLK_TCK)

mnt=$work/mnt root=$work/mnt/tree src=$work/mnt/storm-src run=$work/run
db=$work/db conf=$work/fsindex.conf res=$work/results
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	mountpoint -q "$mnt" && umount "$mnt"
	rm -rf "$work/db" "$work/db-fresh" "$work/db-sub" "$work/plocate.db" "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$mnt" "$run" "$res"
mountpoint -q "$mnt" && umount "$mnt"
mount -t tmpfs -o size=$((nfiles * 8 / 1024 + 512))m,nr_inodes=$((nfiles * 3 + 100000)) \
	fsindex-bench "$mnt"
exec {sleepfd}<> <(:)
nap() { read -r -t "$1" -u $sleepfd _ || true; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
# gentree with little data: fsindexd reads metadata only
"$here/gentree.sh" --force --total $((nfiles * 300)) "$root" "$nfiles" 5 >&2
"$here/gentree.sh" --force --total $((nfiles * 30)) "$src" $((nfiles / 10)) 6 >&2
find "$root" -type d >"$work/dirs"
entries=$(find -P "$root" | wc -l)
sub_entries=$(find -P "$src" | wc -l)
printf '[index]\nroots = %s\ndb = %s\n' "$root" "$db" >"$conf"
declare -A R	# results: R[mode,key]

# ---- the daemon -------------------------------------------------------------

# start_daemon MODE: notify-listen, then fsindexd; sets dpid, t_exec.
start_daemon() {
	local n=200
	: >"$run/notify"
	"$NL" "$run/notify.sock" >"$run/notify" &
	nlpid=$!
	pids+=("$nlpid")
	while [ ! -S "$run/notify.sock" ] && [ $n -gt 0 ]; do nap 0.01; n=$((n - 1)); done
	t_exec=$(now)
	FSINDEXD_WATCH=$1 XDG_RUNTIME_DIR=$run NOTIFY_SOCKET=$run/notify.sock \
		"$FSINDEXD" --user --config "$conf" --db "$db" 2>>"$run/daemon.err" &
	dpid=$!
	pids+=("$dpid")
}
stop_daemon() {
	kill -TERM "$dpid" 2>/dev/null || true
	wait "$dpid" 2>/dev/null || true
	kill -TERM "$nlpid" 2>/dev/null || true
	wait "$nlpid" 2>/dev/null || true
	# kept for a look at what the daemon did (STATUS= lines, its log)
	{ echo "== $t_exec"; cat "$run/notify"; } >>"$res/notify.log"
	cat "$run/daemon.err" >>"$res/daemon.log" 2>/dev/null || true
	: >"$run/daemon.err"
	rm -f "$run/notify.sock"
}
# wait_notify REGEX SECS: ms from t_exec to the first notify line matching.
wait_notify() {
	local n=$(($2 * 500)) s
	while [ $n -gt 0 ]; do
		s=$(<"$run/notify")
		[[ $s =~ $1 ]] && { ms "$t_exec" "$(now)"; return 0; }
		nap 0.002
		n=$((n - 1))
	done
	echo timeout
}
rss_anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$dpid/status"; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$dpid/stat"; }
wakeups() { cat /proc/"$dpid"/task/*/status | awk '/^voluntary_ctxt_switches:/ { n += $2 } END { print n }'; }
# sampler FILE: RssAnon every 50 ms into FILE; sets spid.
sampler() {
	( while [ -e "/proc/$dpid/status" ]; do rss_anon; nap 0.05; done ) >"$1" 2>/dev/null &
	spid=$!
	pids+=("$spid")
}
stop_sampler() { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---- lag: one change, polled in `fsindex find` --------------------------------

# poll SUBSTR WANT: until the names matching SUBSTR are WANT (one per line,
# "" for none); appends ms from t0 to the start of the poll that saw it
# (that poll's read transaction began after the commit) to $lagf.
poll() {
	local got t deadline=$((10#${t0/./} + 10000000))
	while :; do
		t=$(now)
		got=$("$FSINDEX" find --db "$db" --name --printf '%f\n' "$1" 2>/dev/null || true)
		[ "$got" = "$2" ] && break
		if [ $((10#${t/./})) -gt $deadline ]; then
			echo "$prog: '$1' not '$2' in the index after 10 s" >&2
			echo 10000 >>"$lagf.timeout"
			return 0
		fi
		nap 0.005
	done
	echo "$(ms "$t0" "$t")" >>"$lagf"
}
# lags TAG N [UNTIL-PID]: N create/rename/delete rounds in random directories.
lags() {
	local tag=$1 n=$2 until=${3-} i d name
	local -a dirs
	mapfile -t dirs <"$work/dirs"
	rm -f "$res/$tag".*
	for ((i = 1; i <= n; i++)); do
		[ -n "$until" ] && ! kill -0 "$until" 2>/dev/null && break
		d=${dirs[$(((RANDOM * 32768 + RANDOM) % ${#dirs[@]}))]}
		name=$(printf 'L%s%06d.x' "${tag//[!a-z]/}" "$i")
		lagf=$res/$tag.create t0=$(now)
		: >"$d/c-$name"
		poll "$name" "c-$name"
		lagf=$res/$tag.rename t0=$(now)
		mv "$d/c-$name" "$d/r-$name"
		poll "$name" "r-$name"
		lagf=$res/$tag.delete t0=$(now)
		rm "$d/r-$name"
		poll "$name" ""
	done
}
# lagstat FILE: "median / p99 (n)" of the numbers in FILE, timeouts counted.
lagstat() {
	[ -s "$1" ] || { echo "-"; return; }
	sort -n "$1" | awk -v to="$(cat "$1.timeout" 2>/dev/null | wc -l)" '
		{ v[NR] = $1 }
		END { p = int(NR * 0.99 + 0.999); if (p > NR) p = NR
			printf "%.0f / %.0f ms (n=%d%s)", v[int((NR + 1) / 2)], v[p], NR,
				to ? ", " to " timed out" : "" }'
}

# ---- storm: cp -a of a subtree into the root, then rm -rf ---------------------

# converged WANTFILE: the index lists under $root/storm what WANTFILE has.
converged() {
	"$FSINDEX" find --db "$db" "$root/storm" 2>/dev/null | sort | cmp -s - "$1"
}
storm() {
	local m=$1 t_start t_cp t_conv t_rm t_gone c0 n
	sampler "$res/$m.storm.rss"
	c0=$(cpu_ticks)
	t_start=$(now)
	cp -a "$src" "$root/storm"
	t_cp=$(now)
	find -P "$root/storm" | sort >"$work/storm.want"
	n=6000
	until converged "$work/storm.want"; do
		n=$((n - 1)); [ $n -gt 0 ] || { echo "$prog: storm not converged in 600 s" >&2; break; }
		nap 0.1
	done
	t_conv=$(now)
	rm -rf "$root/storm"
	t_rm=$(now)
	n=6000
	until ! "$FSINDEX" find --db "$db" --count "$root/storm" >/dev/null 2>&1; do
		n=$((n - 1)); [ $n -gt 0 ] || { echo "$prog: storm rm not seen in 600 s" >&2; break; }
		nap 0.1
	done
	t_gone=$(now)
	stop_sampler
	R[$m,storm_cp]=$(elapsed "$t_start" "$t_cp")
	R[$m,storm_conv]=$(elapsed "$t_start" "$t_conv")
	R[$m,storm_after]=$(elapsed "$t_cp" "$t_conv")
	R[$m,storm_rm]=$(elapsed "$t_rm" "$t_gone")
	R[$m,storm_rmcmd]=$(elapsed "$t_conv" "$t_rm")
	R[$m,storm_cpu]=$(awk -v a="$c0" -v b="$(cpu_ticks)" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
	R[$m,storm_rss]=$(mib "$(sort -n "$res/$m.storm.rss" | tail -n 1)")
}

# settle: seconds after the storm until the daemon said "watching" and then
# nothing for 3 s (bounded: 300 s).
settle() {
	local t0 last=-1 size quiet=0 n=0
	t0=$(now)
	while [ $n -lt 3000 ]; do
		size=$(wc -c <"$run/notify")
		if [ "$size" = "$last" ] && [[ $(tail -n 1 "$run/notify") == *watching* ]]; then
			quiet=$((quiet + 1))
			[ $quiet -ge 30 ] && break
		else
			quiet=0 last=$size
		fi
		nap 0.1
		n=$((n + 1))
	done
	awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a - 3 }'
}

# ---- one mode ---------------------------------------------------------------

run_mode() {
	local m=$1 c0 w0 cpid
	rm -rf "$db"
	say "$m: start on an empty index"
	start_daemon "$m"
	R[$m,first_ready]=$(wait_notify "(^|[|"$'\n'"])READY=1" 30)
	R[$m,first_scan]=$(wait_notify 'STATUS=watching' 3600)
	FSINDEXD_WATCH=$m XDG_RUNTIME_DIR=$run "$FSINDEX" status --user >"$res/$m.status" 2>&1 || true
	R[$m,watchmode]=$(grep -oE "root $root: [a-z]+" "$res/$m.status" | awk '{ print $3 }' || true)
	R[$m,rss_watch]=$(mib "$(rss_anon)")
	say "$m: ${R[$m,watchmode]}; $changes changes of each kind"
	lags "$m-quiet" "$changes"

	say "$m: churn, $churn_rate ops/s for $churn_s s"
	sampler "$res/$m.churn.rss"
	perl "$here/churn.pl" "$work/dirs" "$churn_s" "$churn_rate" >"$res/$m.churn.out" &
	cpid=$!
	pids+=("$cpid")
	lags "$m-churn" "$changes" "$cpid"
	wait "$cpid" || echo "$prog: churn.pl failed" >&2
	nap 2
	stop_sampler
	R[$m,churn_ops]=$(awk '{ printf "%.0f", $1 / $2 }' "$res/$m.churn.out")
	R[$m,churn_rss]=$(awk 'NR == 1 { s = $1 } { if ($1 > p) p = $1; e = $1 }
		END { printf "%.1f / %.1f / %.1f MiB", s / 1024, p / 1024, e / 1024 }' "$res/$m.churn.rss")

	say "$m: storm (cp -a, rm -rf of $sub_entries entries)"
	storm "$m"

	say "$m: settle, then idle ${idle_s} s"
	R[$m,settle]=$(settle)
	c0=$(cpu_ticks) w0=$(wakeups)
	nap "$idle_s"
	R[$m,idle_cpu]=$(awk -v a="$c0" -v b="$(cpu_ticks)" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
	R[$m,idle_wake]=$(( $(wakeups) - w0 ))
	R[$m,rss_end]=$(mib "$(rss_anon)")

	say "$m: restart on the up-to-date index"
	stop_daemon
	start_daemon "$m"
	R[$m,ready]=$(wait_notify "(^|[|"$'\n'"])READY=1" 30)
	R[$m,reconciled]=$(wait_notify 'STATUS=watching' 600)
	stop_daemon
}

for m in $modes; do run_mode "$m"; done

# ---- peers --------------------------------------------------------------------

say "inotifywait -m -r"
t0=$(now)
inotifywait -m -r -e create,moved_to,delete "$root" >/dev/null 2>"$run/iw.err" &
iwpid=$!
pids+=("$iwpid")
n=30000
until grep -q 'Watches established' "$run/iw.err"; do
	n=$((n - 1)); [ $n -gt 0 ] || break
	nap 0.002
done
iw_time=$(ms "$t0" "$(now)")
iw_rss=$(mib "$(awk '/^RssAnon:/ { print $2 }' /proc/$iwpid/status)")
kill "$iwpid"; wait "$iwpid" 2>/dev/null || true

say "updatedb, fresh fsindex scans"
F=$(printf '%q' "$FSINDEX")
hyperfine -N -i --runs 3 --warmup 1 --style basic --export-csv "$res/peers.csv" \
	--prepare true -n poll "$F find --db $db --name --printf %f\\n Lnothing.x" \
	--prepare "rm -rf $work/plocate.db" -n updatedb \
	"updatedb -l 0 --prunepaths '' --prunefs '' --prunenames '' --prune-bind-mounts no -U $root -o $work/plocate.db" \
	--prepare "rm -rf $work/db-fresh" -n scan-tree "$F scan --db $work/db-fresh -q $root" \
	--prepare "rm -rf $work/db-sub" -n scan-sub "$F scan --db $work/db-sub -q $src" >&2
med() { awk -F, -v n="$1" '$1 == n { printf "%.2f", $4 }' "$res/peers.csv"; }
poll_ms=$(awk -F, '$1 == "poll" { printf "%.1f", $4 * 1000 }' "$res/peers.csv")
upd=$(med updatedb) scan_tree=$(med scan-tree) scan_sub=$(med scan-sub)

# ---- the table ----------------------------------------------------------------

read -r load1 load5 _ </proc/loadavg
{
	echo "# fsindexd"
	echo
	echo "\`contrib/bench/daemon.sh --files $nfiles --changes $changes\`: tree of $entries entries on a"
	echo "dedicated tmpfs (gentree, $nfiles files), index outside it; $(nproc) CPUs, load $load1/$load5 at the end."
	echo "Lag: from the change to the start of the first \`fsindex find\` that shows it"
	echo "(one find is a full pass over the index: see the poll cost below), median / p99."
	echo
	printf '| Measure |'; for m in $modes; do printf ' %s |' "$m"; done; echo ' Target |'
	printf '|:---|'; for m in $modes; do printf -- '---:|'; done; echo ':---|'
	row() { printf '| %s |' "$1"; for m in $modes; do printf ' %s |' "$(eval "echo \"$2\"")"; done; echo " $3 |"; }
	row "watch mode (fsindex status)" '${R[$m,watchmode]}' ""
	row "first start: READY / full scan done" '${R[$m,first_ready]} ms / $(awk -v x=${R[$m,first_scan]} "BEGIN{printf \"%.2f\", x/1000}") s' ""
	for k in create rename delete; do
		row "lag, $k (quiet)" '$(lagstat $res/$m-quiet.'$k')' "median ≤ 100 ms, p99 ≤ 1 s"
	done
	for k in create rename delete; do
		row "lag, $k (during churn)" '$(lagstat $res/$m-churn.'$k')' "median ≤ 100 ms, p99 ≤ 1 s"
	done
	row "churn rate achieved" '${R[$m,churn_ops]} ops/s for ${churn_s} s' ""
	row "RssAnon over churn: start / peak / end" '${R[$m,churn_rss]}' "flat"
	row "storm: cp -a of $sub_entries entries took" '${R[$m,storm_cp]} s' ""
	row "storm: converged after cp ended" '${R[$m,storm_after]} s (${R[$m,storm_conv]} s from cp start)' ""
	row "storm: ratio to a fresh scan of the subtree ($scan_sub s)" '$(awk -v a=${R[$m,storm_after]} -v b=$scan_sub "BEGIN{printf \"%.1fx\", a/b}")' "≤ 2x"
	row "storm: rm -rf seen after it ended" '${R[$m,storm_rm]} s (rm took ${R[$m,storm_rmcmd]} s)' ""
	row "storm: daemon CPU / peak RssAnon" '${R[$m,storm_cpu]} s / ${R[$m,storm_rss]} MiB' ""
	row "storm: busy after rm -rf was seen (until quiet 3 s)" '${R[$m,settle]} s' ""
	row "idle ${idle_s} s: CPU / wake-ups" '${R[$m,idle_cpu]} s / ${R[$m,idle_wake]}' "0"
	row "RssAnon watching / at the end" '${R[$m,rss_watch]} / ${R[$m,rss_end]} MiB' "< 64 MiB at 1M files"
	row "restart: READY / reconcile done" '${R[$m,ready]} ms / ${R[$m,reconciled]} ms' "READY ≤ 1 s"
	echo
	echo "| Peer (same tree) | Time | RssAnon |"
	echo "|:---|---:|---:|"
	echo "| \`inotifywait -m -r\` until \"Watches established.\" | $iw_time ms | $iw_rss MiB |"
	echo "| \`updatedb -l 0 -U TREE -o DB\` (plocate, hyperfine median) | $upd s | |"
	echo "| poll: one \`fsindex find --name --printf\` over the index (hyperfine median) | $poll_ms ms | |"
	echo "| \`fsindex scan\` fresh, whole tree | $scan_tree s | |"
	echo "| \`fsindex scan\` fresh, the storm subtree ($sub_entries entries) | $scan_sub s | |"
} >"$out"
cat "$out"
