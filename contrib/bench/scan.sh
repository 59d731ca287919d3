#!/bin/bash
# scan.sh — benchmark `fsindex scan` against find, bfs, fd and plocate's updatedb,
# and measure fsindex's peak private memory (see README.md in this directory).
#
# usage: scan.sh [--files N] [--dir WORKDIR] [--seed S] [--total BYTES]
#                [--runs N] [--no-memory] [--no-scaling] [--meta-files N]
#                [--chain N] [--wide N] [--idle-wait SECONDS] [--out FILE]
#
#   --files N        files in the benchmark tree (default 200000)
#   --dir WORKDIR    work directory: trees, indexes, raw results
#                    (default /tmp/fsindex-bench; never put it in the repo)
#   --seed S         tree seed (default 1)
#   --total BYTES    total file bytes (default N * 10500, ~2.1 GB for 200k)
#   --runs N         hyperfine timing runs per command (default 5)
#   --no-memory      skip the peak-RssAnon runs of the compared commands
#   --no-scaling     skip the 1M-file / chain / wide-directory memory runs
#   --meta-files N   files in the metadata-only tree (default 1000000)
#   --chain N        depth of the directory chain (default 10000)
#   --wide N         subdirectories of the wide directory (default 200000)
#   --idle-wait S    wait up to S seconds for the 1-minute load average to
#                    fall below 0.7 before timing (default 600; 0 = don't)
#   --out FILE       markdown results (default contrib/bench/results-scan.md)
#   --trees-only     generate (or check) all trees and exit; needs no fsindex
#
# Environment: FSINDEX (binary; default ./fsindex at the top of the repo),
# RSS_RUNS (runs per memory measurement, the maximum is reported; default 3).
# Trees are cached in WORKDIR between runs (a marker file records the
# generator's checksum and arguments).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
prog=scan.sh
# shellcheck source=common.sh
. "$here/common.sh"

nfiles=200000 work=/tmp/fsindex-bench seed=1 total= runs=5 do_memory=1
do_scaling=1 meta_files=1000000 chain=10000 wide=200000 idle_wait=600
out=$here/results-scan.md trees_only=0
rss_runs=${RSS_RUNS:-3}

while [ $# -gt 0 ]; do
	case $1 in
	--files) num "$1" "${2-}"; nfiles=$2; shift ;;
	--dir) work=${2:?--dir needs a value}; shift ;;
	--seed) num "$1" "${2-}"; seed=$2; shift ;;
	--total) num "$1" "${2-}"; total=$2; shift ;;
	--runs) num "$1" "${2-}"; runs=$2; shift ;;
	--no-memory) do_memory=0 ;;
	--no-scaling) do_scaling=0 ;;
	--meta-files) num "$1" "${2-}"; meta_files=$2; shift ;;
	--chain) num "$1" "${2-}"; chain=$2; shift ;;
	--wide) num "$1" "${2-}"; wide=$2; shift ;;
	--idle-wait) num "$1" "${2-}"; idle_wait=$2; shift ;;
	--out) out=${2:?--out needs a value}; shift ;;
	--trees-only) trees_only=1 ;;
	-h | --help) usage ;;
	*) echo "scan.sh: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done

check_paths
res=$work/results
mkdir -p "$work" "$res"
notes=()

# ---------------------------------------------------------------- deps
deps hyperfine:hyperfine bfs:bfs fdfind:fd-find updatedb:plocate \
	plocate:plocate cc:gcc awk:mawk

# ---------------------------------------------------------------- trees
warm() {
	find "$1" -printf '%s %T@ %p\n' >/dev/null
	find "$1" -printf '%s %T@ %p\n' >/dev/null
}


src_args=(--total "${total:-$((nfiles * 10500))}")
T=$(tree "tree-$nfiles-s$seed" "${src_args[@]}" "$nfiles" "$seed")
tree_dirs=$(find "$T" -type d | wc -l)
tree_entries=$(find "$T" | wc -l)
tree_bytes=$(find "$T" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s }')
say "tree $T: $tree_entries entries, $tree_dirs dirs, $tree_bytes bytes"

if [ $trees_only = 1 ]; then
	if [ $do_scaling = 1 ]; then
		tree tiny-s1 40 1 >/dev/null
		tree "meta-$meta_files-s$seed" --meta "$meta_files" "$seed" >/dev/null
		tree "chain-$chain" --chain "$chain" >/dev/null
		tree "wide-dirs-$wide" --wide-dirs "$wide" >/dev/null
		tree "wide-files-$wide" --wide-files "$wide" >/dev/null
	fi
	say "trees ready in $work"
	exit 0
fi

# Benchmark a private copy: a rebuild of the tree's binary during the run
# (possibly with another index format) must not change what is measured.
if [ -f "$FSINDEX" ] && head -c 4 "$FSINDEX" | grep -q ELF; then
	mkdir -p "$work/bin"
	cp -f "$FSINDEX" "$work/bin/fsindex.tmp"
	mv -f "$work/bin/fsindex.tmp" "$work/bin/fsindex"
	bin_note=" (copy of $FSINDEX, sha256 $(sha256sum <"$FSINDEX" | cut -c1-12))"
	say "benchmarking$bin_note"
	FSINDEX=$work/bin/fsindex
fi
if ! version=$("$FSINDEX" --version 2>&1 | head -1) || [ -z "$version" ]; then
	echo "scan.sh: '$FSINDEX --version' failed: $version" >&2
	exit 1
fi
say "using $FSINDEX ($version)"

# ---------------------------------------------------------------- commands
upd_opts="-l 0 --prunepaths '' --prunefs '' --prunenames '' --prune-bind-mounts no"
names=(
	"fsindex scan (fresh index)"
	"fsindex scan (unchanged rescan)"
	"find -printf"
	"bfs -printf"
	"fdfind -u --changed-before"
	"updatedb -l 0 (plocate)"
)
cmds=(
	"'$FSINDEX' scan --db '$work/db-fresh' -q '$T'"
	"'$FSINDEX' scan --db '$work/db-rescan' -q '$T'"
	"find '$T' -printf '%s %T@ %p\n' >/dev/null"
	"bfs '$T' -printf '%s %T@ %p\n' >/dev/null"
	"fdfind -u --changed-before 2100-01-01 . '$T' >/dev/null"
	"updatedb $upd_opts -U '$T' -o '$work/plocate.db'"
)
preps=(
	"rm -rf '$work/db-fresh'"
	"true"
	"true"
	"true"
	"true"
	"rm -f '$work/plocate.db'"
)

say "warming the cache"
warm "$T"

# the index for the unchanged-rescan case, then a check of what it holds
rm -rf "$work/db-rescan"
if "$FSINDEX" scan --db "$work/db-rescan" "$T" 2>"$res/rescan-prepare.err"; then
	summary=$(tail -1 "$res/rescan-prepare.err")
	say "first scan said: $summary"
	notes+=("first scan of the tree (outside hyperfine) said: \`$summary\`")
	n_idx=$("$FSINDEX" find --db "$work/db-rescan" --count "$T" 2>/dev/null || echo "?")
	say "index holds $n_idx entries under $T (find lists $tree_entries)"
	[ "$n_idx" = "$tree_entries" ] ||
		notes+=("fsindex find --count under the tree gave $n_idx, find(1) lists $tree_entries entries")
else
	notes+=("preparing the rescan index failed: $(head -1 "$res/rescan-prepare.err")")
fi

# preflight: every command once, outside hyperfine, so a failing one is
# reported instead of aborting the run
say "preflight"
ok=()
for i in "${!cmds[@]}"; do
	bash -c "${preps[$i]}"
	t0=$(now)
	set +e
	bash -c "${cmds[$i]}" 2>"$res/preflight-$i.err"
	rc=$?
	set -e
	t1=$(now)
	echo "   ${names[$i]}: exit $rc, $(elapsed "$t0" "$t1") s" >&2
	if [ $rc -ne 0 ]; then
		sed 's/^/      /' "$res/preflight-$i.err" | head -20 >&2
		notes+=("${names[$i]}: preflight exited $rc ($(head -1 "$res/preflight-$i.err")); left out of the timing")
		continue
	fi
	ok+=("$i")
done
n_upd=$(plocate -d "$work/plocate.db" -c "$T" 2>/dev/null || echo "?")
say "plocate database holds $n_upd paths containing $T"

wait_idle
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

say "hyperfine"
hf=(hyperfine --warmup 1 --runs "$runs" --style basic
	--export-markdown "$res/scan-hyperfine.md"
	--export-json "$res/scan-hyperfine.json"
	--export-csv "$res/scan-hyperfine.csv")
for i in "${ok[@]}"; do
	hf+=(-n "${names[$i]}" --prepare "${preps[$i]}" "${cmds[$i]}")
done
if ! "${hf[@]}" >&2; then
	echo "scan.sh: hyperfine failed (see above); rerun the failing command by hand:" >&2
	printf '   %s\n' "${cmds[@]}" >&2
	exit 1
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$work/db-fresh"

# median/mean/stddev (ms) by name, from the CSV (hyperfine writes seconds)
declare -A med mean sd
while IFS=, read -r name m s md _; do
	[ "$name" = command ] && continue
	med[$name]=$(awk -v x="$md" 'BEGIN { printf "%.1f", x * 1000 }')
	mean[$name]=$(awk -v x="$m" 'BEGIN { printf "%.1f", x * 1000 }')
	sd[$name]=$(awk -v x="$s" 'BEGIN { printf "%.1f", x * 1000 }')
done <"$res/scan-hyperfine.csv"

# ---------------------------------------------------------------- memory
# peak RssAnon in KiB, maximum over RSS_RUNS runs: PREPARE CMD-STRING.
# The command string is split with eval (it is quoted for the shell) and run
# by rss.sh directly, so no intermediate shell is sampled; a trailing
# ">/dev/null" is done by redirecting rss.sh's own stdout.
peak_rss() {
	local prep=$1 cmd=${2% >/dev/null} best=0 k v argv
	eval "argv=($cmd)"
	for ((k = 0; k < rss_runs; k++)); do
		bash -c "$prep"
		"$here/rss.sh" -o "$res/rss.tmp" "${argv[@]}" 2>>"$res/rss.log" >/dev/null || true
		read -r v _ <"$res/rss.tmp"
		[ "$v" -gt "$best" ] && best=$v
	done
	echo "$best"
}
declare -A rss
if [ $do_memory = 1 ]; then
	say "peak RssAnon of each command ($rss_runs runs each, maximum kept)"
	: >"$res/rss.log"
	for i in "${ok[@]}"; do
		rss[${names[$i]}]=$(peak_rss "${preps[$i]}" "${cmds[$i]}")
		echo "   ${names[$i]}: ${rss[${names[$i]}]} KiB" >&2
	done
	rm -rf "$work/db-fresh"
fi

# ---------------------------------------------------------------- scaling
scan_fresh() { # DIR [ARGS...] -> peak KiB ; also sets $scan_s, $scan_rc
	local dir=$1 t0
	shift
	t0=$(now)
	rm -rf "$work/db-scale"
	set +e
	"$here/rss.sh" -o "$res/rss.tmp" -i "${interval:-0.01}" \
		"$FSINDEX" scan --db "$work/db-scale" -q "$@" "$dir" 2>>"$res/rss.log" >/dev/null
	scan_rc=$?
	set -e
	scan_s=$(elapsed "$t0" "$(now)")
	read -r scan_peak _ <"$res/rss.tmp"
	rm -rf "$work/db-scale"
}
# maximum over RSS_RUNS fresh scans
scan_peak_max() {
	local best=0 k
	for ((k = 0; k < rss_runs; k++)); do
		scan_fresh "$@"
		[ "$scan_peak" -gt "$best" ] && best=$scan_peak
		[ $scan_rc -eq 0 ] || notes+=("scan of $1 ${*:2} exited $scan_rc")
	done
	scan_peak=$best
}
bytes_per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }'; }

scale_rows=()
if [ $do_scaling = 1 ]; then
	: >>"$res/rss.log"
	say "memory scaling: baseline (tiny tree)"
	TINY=$(tree tiny-s1 40 1)
	warm "$TINY"
	tiny_entries=$(find "$TINY" | wc -l)
	interval=0.001
	rss_runs_saved=$rss_runs
	rss_runs=$((rss_runs < 5 ? 5 : rss_runs))
	scan_peak_max "$TINY"
	base=$scan_peak
	scan_peak_max "$TINY" -j1
	base1=$scan_peak
	rss_runs=$rss_runs_saved
	interval=0.01
	scale_rows+=("| tiny tree ($tiny_entries entries), baseline | -j default | $base KiB | | |")
	scale_rows+=("| tiny tree ($tiny_entries entries), baseline | -j1 | $base1 KiB | | |")

	say "memory scaling: $meta_files-file metadata-only tree"
	M=$(tree "meta-$meta_files-s$seed" --meta "$meta_files" "$seed")
	warm "$M"
	m_entries=$(find "$M" | wc -l)
	scan_fresh "$M"
	meta_peak=$scan_peak meta_s=$scan_s
	[ $scan_rc -eq 0 ] || notes+=("scan of the $meta_files-file tree exited $scan_rc")
	scale_rows+=("| $m_entries entries, empty files | -j default | $meta_peak KiB ($(awk -v k="$meta_peak" 'BEGIN { printf "%.1f", k / 1024 }') MiB) | $(bytes_per "$meta_peak" "$base" "$m_entries") B/entry | fresh scan ${meta_s} s |")

	say "memory scaling: $chain-deep chain"
	C=$(tree "chain-$chain" --chain "$chain")
	warm "$C"
	scan_peak_max "$C"
	chain_peak=$scan_peak chain_s=$scan_s
	scan_peak_max "$C" -j1
	chain_peak1=$scan_peak chain_s1=$scan_s
	scale_rows+=("| chain of $chain directories | -j default | $chain_peak KiB | $(bytes_per "$chain_peak" "$base" "$chain") B/level | ${chain_s} s |")
	scale_rows+=("| chain of $chain directories | -j1 | $chain_peak1 KiB | $(bytes_per "$chain_peak1" "$base1" "$chain") B/level | ${chain_s1} s |")

	say "memory scaling: one directory with $wide subdirectories / files"
	WD=$(tree "wide-dirs-$wide" --wide-dirs "$wide")
	WF=$(tree "wide-files-$wide" --wide-files "$wide")
	warm "$WD"
	warm "$WF"
	scan_peak_max "$WD" -j1
	wd1=$scan_peak wd1_s=$scan_s
	scan_peak_max "$WF" -j1
	wf1=$scan_peak wf1_s=$scan_s
	scan_peak_max "$WD"
	wd=$scan_peak wd_s=$scan_s
	scan_peak_max "$WF"
	wf=$scan_peak wf_s=$scan_s
	per_task=$(bytes_per "$wd1" "$wf1" "$wide")
	per_task_raw=$(bytes_per "$wd1" "$base1" "$wide")
	scale_rows+=("| 1 dir, $wide empty subdirs | -j1 | $wd1 KiB | $per_task_raw B/subdir vs baseline | ${wd1_s} s |")
	scale_rows+=("| 1 dir, $wide empty files (control) | -j1 | $wf1 KiB | | ${wf1_s} s |")
	scale_rows+=("| 1 dir, $wide empty subdirs | -j default | $wd KiB | $(bytes_per "$wd" "$base" "$wide") B/subdir vs baseline | ${wd_s} s |")
	scale_rows+=("| 1 dir, $wide empty files (control) | -j default | $wf KiB | | ${wf_s} s |")
fi

# ---------------------------------------------------------------- report
r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else printf "n/a" }'; }
pass() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
	if (v == "n/a" || v == "") { print "n/a"; exit }
	ok = (op == ">=") ? v >= t : v < t; print ok ? "**met**" : "**missed**" }'; }

F="fsindex scan (fresh index)"
R="fsindex scan (unchanged rescan)"
fastest= fastest_ms=
for n in "find -printf" "bfs -printf" "fdfind -u --changed-before"; do
	[ -n "${med[$n]-}" ] || continue
	if [ -z "$fastest" ] || awk -v a="${med[$n]}" -v b="$fastest_ms" 'BEGIN { exit !(a < b) }'; then
		fastest=$n fastest_ms=${med[$n]}
	fi
done
U="updatedb -l 0 (plocate)"
fm=${med[$F]-}

{
	echo "## Scan benchmark"
	echo
	echo "$version${bin_note-}, $(date -u +%Y-%m-%d), Linux $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)),"
	echo "$(df -T "$T" | awk 'NR == 2 { print $2 }') on $(df "$T" | awk 'NR == 2 { print $1 }'), warm cache."
	echo "Tree: $tree_entries entries ($tree_dirs directories), $(awk -v b="$tree_bytes" 'BEGIN { printf "%.2f GB", b / 1e9 }') (\`gentree.sh $T $nfiles $seed\`)."
	echo "hyperfine --warmup 1 --runs $runs; load average before $load_before, after $load_after."
	echo
	echo "| Command | Median [ms] | Mean ± σ [ms] | Peak RssAnon [KiB] | Peer median / fsindex scan median |"
	echo "|:---|---:|---:|---:|---:|"
	for i in "${!names[@]}"; do
		n=${names[$i]}
		if [ -z "${med[$n]-}" ]; then
			echo "| $n | failed | | | |"
			continue
		fi
		case $n in
		"$F") ratio=1.00 ;;
		"$R") ratio="(rescan: $(r "$fm" "${med[$n]}")x faster than fresh)" ;;
		*) ratio=$(r "${med[$n]}" "$fm") ;;
		esac
		echo "| \`$n\` | ${med[$n]} | ${mean[$n]} ± ${sd[$n]} | ${rss[$n]-} | $ratio |"
	done
	echo
	echo "Targets:"
	echo
	echo "- first scan no slower than the fastest of find/bfs/fd (\`$fastest\`, ${fastest_ms:-?} ms): ratio $(r "$fastest_ms" "$fm") (need ≥ 1) → $(pass "$(r "$fastest_ms" "$fm")" 1 '>=')"
	echo "- first scan no slower than \`updatedb\`: ratio $(r "${med[$U]-}" "$fm") (need ≥ 1) → $(pass "$(r "${med[$U]-}" "$fm")" 1 '>=')"
	echo "- unchanged rescan at least 2x faster than the first scan: $(r "$fm" "${med[$R]-}")x → $(pass "$(r "$fm" "${med[$R]-}")" 2 '>=')"
	if [ $do_scaling = 1 ]; then
		echo "- peak private memory for $m_entries entries under 64 MiB: $(awk -v k="$meta_peak" 'BEGIN { printf "%.1f", k / 1024 }') MiB → $(pass "$(awk -v k="$meta_peak" 'BEGIN { printf "%.1f", k / 1024 }')" 64 '<')"
		echo "- under 256 bytes per pending directory task: $per_task B ((wide subdirs − wide files) / $wide at -j1) → $(pass "$per_task" 256 '<')"
		echo
		echo "### Memory scaling (fresh scan into an empty index; peak RssAnon, max of $rss_runs runs except the 1M tree)"
		echo
		echo "| Tree | Jobs | Peak RssAnon | Derived | Wall time |"
		echo "|:---|:---|---:|---:|---:|"
		printf '%s\n' "${scale_rows[@]}"
		echo
		echo "B/level = (chain peak − tiny-tree peak) / depth. Per pending task = (peak with $wide empty"
		echo "subdirectories − peak with $wide empty files in one directory) / $wide, both at -j1: with one"
		echo "worker the listing of the big directory finishes before any child task runs, so all $wide"
		echo "tasks are pending at once, and the files control cancels the cost of listing and storing"
		echo "$wide entries. Baseline rows are short runs sampled every 1 ms; the others every 10 ms."
	fi
	if [ ${#notes[@]} -gt 0 ]; then
		echo
		echo "Notes:"
		echo
		printf -- '- %s\n' "${notes[@]}"
	fi
} >"$res/results-scan.md"
cp "$res/results-scan.md" "$out"
say "results ($out; raw data in $res)"
cat "$out"
