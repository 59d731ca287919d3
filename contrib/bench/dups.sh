#!/bin/bash
# dups.sh — benchmark `fsindex dups` and `fsindex scan --hash` against jdupes,
# rmlint, fdupes and plain parallel reads (see README.md in this directory).
#
# usage: dups.sh [--files N] [--dir WORKDIR] [--seed S] [--total BYTES]
#                [--runs N] [--usr-runs N] [--cold-runs N] [--usr PATH | --no-usr]
#                [--no-memory] [--idle-wait SECONDS] [--out FILE]
#
#   --files N        files in the generated tree (default 200000)
#   --dir WORKDIR    work directory shared with scan.sh (default /tmp/fsindex-bench)
#   --seed S         tree seed (default 1)
#   --total BYTES    total file bytes (default N * 10500, ~2.1 GB for 200k)
#   --runs N         hyperfine runs per warm-cache command on the tree (default 5)
#   --usr-runs N     the same on the real tree (default 3; fdupes is slow there)
#   --cold-runs N    runs per cold-cache command (default 3; 0 = skip; needs root)
#   --usr PATH       the real tree (default /usr); --no-usr skips it
#   --no-memory      skip the peak-RssAnon runs
#   --idle-wait S    wait up to S s for the load average to drop below 0.7 (default 600)
#   --out FILE       markdown results (default contrib/bench/results-dups.md)
#
# Environment: FSINDEX (binary; default ./fsindex at the top of the repo),
# RSS_RUNS (runs per memory measurement, maximum kept; default 1).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
prog=dups.sh
# shellcheck source=common.sh
. "$here/common.sh"

nfiles=200000 work=/tmp/fsindex-bench seed=1 total= runs=5 usr_runs=3 cold_runs=3
usr=/usr do_memory=1 idle_wait=600 out=$here/results-dups.md
rss_runs=${RSS_RUNS:-1}

while [ $# -gt 0 ]; do
	case $1 in
	--files) num "$1" "${2-}"; nfiles=$2; shift ;;
	--dir) work=${2:?--dir needs a value}; shift ;;
	--seed) num "$1" "${2-}"; seed=$2; shift ;;
	--total) num "$1" "${2-}"; total=$2; shift ;;
	--runs) num "$1" "${2-}"; runs=$2; shift ;;
	--usr-runs) num "$1" "${2-}"; usr_runs=$2; shift ;;
	--cold-runs) num "$1" "${2-}"; cold_runs=$2; shift ;;
	--usr) usr=${2:?--usr needs a value}; shift ;;
	--no-usr) usr= ;;
	--no-memory) do_memory=0 ;;
	--idle-wait) num "$1" "${2-}"; idle_wait=$2; shift ;;
	--out) out=${2:?--out needs a value}; shift ;;
	-h | --help) usage ;;
	*) echo "dups.sh: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done

check_paths
res=$work/results-dups
mkdir -p "$work" "$res"
notes=()

# ---------------------------------------------------------------- deps
deps hyperfine:hyperfine jdupes:jdupes rmlint:rmlint fdupes:fdupes \
	xxh128sum:xxhash cc:gcc awk:mawk
if [ "$cold_runs" -gt 0 ] && { [ "$(id -u)" != 0 ] || ! [ -w /proc/sys/vm/drop_caches ]; }; then
	notes+=("cold-cache runs skipped: dropping the page cache needs root")
	cold_runs=0
fi

# ---------------------------------------------------------------- the tree
# Same cache as scan.sh: $work/NAME is rebuilt only when gentree.c or the
# arguments change.

warm() { # read every file once (twice for the metadata) so the cache is warm
	find "$1" -printf '%s %T@ %p\n' >/dev/null 2>&1 || true
	find "$1" -type f -print0 2>/dev/null | xargs -0 -P2 -n 512 cat >/dev/null 2>&1 || true
	find "$1" -printf '%s %T@ %p\n' >/dev/null 2>&1 || true
}


G=$(tree "tree-$nfiles-s$seed" --total "${total:-$((nfiles * 10500))}" "$nfiles" "$seed")

# A private copy of the binary: a rebuild during the run changes nothing.
if [ -f "$FSINDEX" ] && head -c 4 "$FSINDEX" | grep -q ELF; then
	mkdir -p "$work/bin"
	cp -f "$FSINDEX" "$work/bin/fsindex-dups.tmp"
	mv -f "$work/bin/fsindex-dups.tmp" "$work/bin/fsindex-dups"
	bin_note=" (copy of $FSINDEX, sha256 $(sha256sum <"$FSINDEX" | cut -c1-12))"
	FSINDEX=$work/bin/fsindex-dups
fi
if ! version=$("$FSINDEX" --version 2>&1 | head -1) || [ -z "$version" ]; then
	echo "dups.sh: '$FSINDEX --version' failed: $version" >&2
	exit 1
fi
say "using $FSINDEX ($version)${bin_note-}"

# ---------------------------------------------------------------- helpers
# Commands are shell strings (hyperfine runs them with sh -c).  fsindex dups
# exits 1 when it finds nothing, which is no failure here.
FS=$(printf '%q' "$FSINDEX")
dups_ok='; [ $? -le 1 ]'

declare -A med mean sd rss_of
# hf LABEL RUNS [--prepare P] NAME CMD [--prepare P] NAME CMD ...: one hyperfine run;
# fills med/mean/sd (ms) by NAME.  Commands that fail their preflight are left out.
hf() {
	local label=$1 n=$2 prep=true name cmd rc t0 args=()
	shift 2
	say "preflight ($label)"
	while [ $# -gt 0 ]; do
		if [ "$1" = --prepare ]; then
			prep=$2
			shift 2
			continue
		fi
		name=$1 cmd=$2
		shift 2
		bash -c "$prep" >/dev/null 2>&1 || true
		t0=$(now)
		set +e
		bash -c "$cmd" >/dev/null 2>"$res/preflight.err"
		rc=$?
		set -e
		echo "   $name: exit $rc, $(elapsed "$t0" "$(now)") s" >&2
		if [ $rc -ne 0 ]; then
			notes+=("$label, \`$name\`: preflight exited $rc ($(head -c 200 "$res/preflight.err" | head -1)); left out")
			prep=true
			continue
		fi
		args+=(-n "$name" --prepare "$prep" "$cmd")
		prep=true
	done
	[ ${#args[@]} -gt 0 ] || return 0
	wait_idle
	say "hyperfine ($label): load $(cut -d' ' -f1-3 /proc/loadavg)"
	local csv=$res/$(echo "$label" | tr -c 'a-zA-Z0-9\n' '-').csv
	if ! hyperfine --runs "$n" --style basic --export-csv "$csv" \
		--export-markdown "${csv%.csv}.md" "${args[@]}" >&2; then
		notes+=("$label: hyperfine failed")
		return 0
	fi
	while IFS=, read -r name m s md _; do
		[ "$name" = command ] && continue
		name=${name#\"} name=${name%\"}
		med[$label/$name]=$(awk -v x="$md" 'BEGIN { printf "%.0f", x * 1000 }')
		mean[$label/$name]=$(awk -v x="$m" 'BEGIN { printf "%.0f", x * 1000 }')
		sd[$label/$name]=$(awk -v x="$s" 'BEGIN { printf "%.0f", x * 1000 }')
	done <"$csv"
}

# peak_rss KEY PREP ARGV...: peak RssAnon (KiB, max over RSS_RUNS) into rss_of[KEY]
peak_rss() {
	local key=$1 prep=$2 best=0 k v
	shift 2
	[ $do_memory = 1 ] || return 0
	for ((k = 0; k < rss_runs; k++)); do
		bash -c "$prep" >/dev/null 2>&1 || true
		"$here/rss.sh" -o "$res/rss.tmp" "$@" >/dev/null 2>>"$res/rss.log" || true
		read -r v _ <"$res/rss.tmp"
		[ "$v" -gt "$best" ] && best=$v
	done
	rss_of[$key]=$best
	echo "   peak RssAnon $key: $best KiB" >&2
}

r() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
	if (v == "n/a" || v == "") { print "n/a"; exit }
	ok = (op == ">=") ? v >= t : v <= t; print ok ? "**met**" : "**missed**" }'; }

# inode groups of fdupes-style output (blank-line separated) -> "N groups, N files beyond the first"
count_groups() {
	awk 'BEGIN { g = 0; f = 0; n = 0 }
		/^$/ { if (n > 1) { g++; f += n - 1 } n = 0; next }
		{ n++ }
		END { if (n > 1) { g++; f += n - 1 } print g, f }'
}

rows=()
# row TABLE-LABEL NAME [RATIO-TEXT]
row() {
	local key=$1/$2
	if [ -z "${med[$key]-}" ]; then
		rows+=("| $1 | \`$2\` | failed | | | |")
	else
		rows+=("| $1 | \`$2\` | ${med[$key]} | ${mean[$key]} ± ${sd[$key]} | ${rss_of[$key]-} | ${3-} |")
	fi
}

# ---------------------------------------------------------------- one tree
# bench_tree LABEL DIR RUNS
targets=()
bench_tree() {
	local L=$1 D=$2 n=$3 Q
	Q=$(printf '%q' "$D")
	local db=$work/dups-db-$L
	say "$L: $D"
	warm "$D"
	local entries files bytes
	entries=$(find "$D" 2>/dev/null | wc -l)
	files=$(find "$D" -type f 2>/dev/null | wc -l)
	bytes=$(find "$D" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }')
	notes+=("$L tree \`$D\`: $entries entries, $files regular files, $(awk -v b="$bytes" 'BEGIN { printf "%.2f GB", b / 1e9 }')")

	# Correctness before speed: fsindex's groups against jdupes' (counts).
	local ours theirs
	ours=$("$FSINDEX" dups --no-index -q "$D" 2>/dev/null | count_groups || true)
	theirs=$(jdupes -r -q "$D" 2>/dev/null | count_groups || true)
	notes+=("$L: fsindex dups found ${ours% *} groups / ${ours#* } duplicate files; jdupes -r ${theirs% *} / ${theirs#* }$([ "$ours" = "$theirs" ] && echo " (same)" || echo " (**differs**: hard links or unreadable files are counted differently, or a bug)")")

	# Indexes for the repeat cases, prepared once.
	rm -rf "$db-dups" "$db-scan"
	"$FSINDEX" dups --db "$db-dups" -q "$D" >/dev/null 2>&1 || true
	"$FSINDEX" scan --db "$db-scan" -q "$D" >/dev/null 2>&1 || true

	local F_D="fsindex dups --no-index" J_Q="jdupes -r -Q" RM="rmlint -T df" FD="fdupes -r"
	local F_V="fsindex dups --verify --no-index" J="jdupes -r"
	local F_R="fsindex dups (repeat over the unchanged tree)" S_R="fsindex scan (unchanged rescan)"
	local F_H="fsindex scan --hash (fresh index)" CAT="xargs -P2 cat" XXH="xargs -P2 xxh128sum"
	hf "$L warm" "$n" \
		"$F_D" "$FS dups --no-index -q $Q >/dev/null$dups_ok" \
		"$J_Q" "jdupes -r -Q -q $Q >/dev/null" \
		"$RM" "rmlint -T df -o fdupes $Q >/dev/null" \
		"$FD" "fdupes -r -q $Q >/dev/null" \
		"$F_V" "$FS dups --verify --no-index -q $Q >/dev/null$dups_ok" \
		"$J" "jdupes -r -q $Q >/dev/null" \
		"$F_R" "$FS dups --db $(printf '%q' "$db-dups") -q $Q >/dev/null$dups_ok" \
		"$S_R" "$FS scan --db $(printf '%q' "$db-scan") -q $Q" \
		--prepare "rm -rf $(printf '%q' "$db-hash")" \
		"$F_H" "$FS scan --hash --db $(printf '%q' "$db-hash") -q $Q" \
		"$CAT" "find $Q -type f -print0 | xargs -0 -P2 -n 512 cat >/dev/null" \
		"$XXH" "find $Q -type f -print0 | xargs -0 -P2 -n 512 xxh128sum >/dev/null"
	rm -rf "$db-hash"

	if [ $do_memory = 1 ]; then
		say "$L: peak RssAnon"
		peak_rss "$L warm/$F_D" true "$FSINDEX" dups --no-index -q "$D"
		peak_rss "$L warm/$J_Q" true jdupes -r -Q -q "$D"
		peak_rss "$L warm/$RM" true rmlint -T df -o fdupes "$D"
		peak_rss "$L warm/$FD" true fdupes -r -q "$D"
		peak_rss "$L warm/$F_V" true "$FSINDEX" dups --verify --no-index -q "$D"
		peak_rss "$L warm/$J" true jdupes -r -q "$D"
		peak_rss "$L warm/$F_R" true "$FSINDEX" dups --db "$db-dups" -q "$D"
		peak_rss "$L warm/$S_R" true "$FSINDEX" scan --db "$db-scan" -q "$D"
		peak_rss "$L warm/$F_H" "rm -rf $(printf '%q' "$db-hash")" "$FSINDEX" scan --hash --db "$db-hash" -q "$D"
		rm -rf "$db-hash"
	fi

	local drop="sync; echo 3 >/proc/sys/vm/drop_caches"
	if [ "$cold_runs" -gt 0 ]; then
		hf "$L cold" "$cold_runs" \
			--prepare "$drop" "$F_D" "$FS dups --no-index -q $Q >/dev/null$dups_ok" \
			--prepare "$drop" "$J_Q" "jdupes -r -Q -q $Q >/dev/null" \
			--prepare "$drop; rm -rf $(printf '%q' "$db-hash")" "$F_H" "$FS scan --hash --db $(printf '%q' "$db-hash") -q $Q" \
			--prepare "$drop" "$CAT" "find $Q -type f -print0 | xargs -0 -P2 -n 512 cat >/dev/null"
		rm -rf "$db-hash"
		warm "$D"
	fi

	# the fastest hashing peer (-Q: no byte comparison) and the fastest of all three
	local best= best_ms= p
	for p in "$J_Q" "$RM" "$FD"; do
		[ -n "${med[$L warm/$p]-}" ] || continue
		if [ -z "$best" ] || [ "${med[$L warm/$p]}" -lt "$best_ms" ]; then
			best=$p best_ms=${med[$L warm/$p]}
		fi
	done
	local fd=${med[$L warm/$F_D]-}
	row "$L warm" "$F_D" 1.00
	row "$L warm" "$J_Q" "$(r "${med[$L warm/$J_Q]-}" "$fd")"
	row "$L warm" "$RM" "$(r "${med[$L warm/$RM]-}" "$fd")"
	row "$L warm" "$FD" "$(r "${med[$L warm/$FD]-}" "$fd")"
	row "$L warm" "$F_V" 1.00
	row "$L warm" "$J" "$(r "${med[$L warm/$J]-}" "${med[$L warm/$F_V]-}")"
	row "$L warm" "$S_R" 1.00
	row "$L warm" "$F_R" "$(r "${med[$L warm/$F_R]-}" "${med[$L warm/$S_R]-}") (of the rescan)"
	row "$L warm" "$F_H" 1.00
	row "$L warm" "$CAT" "$(r "${med[$L warm/$CAT]-}" "${med[$L warm/$F_H]-}")"
	row "$L warm" "$XXH" "$(r "${med[$L warm/$XXH]-}" "${med[$L warm/$F_H]-}")"
	if [ "$cold_runs" -gt 0 ]; then
		row "$L cold" "$F_D" 1.00
		row "$L cold" "$J_Q" "$(r "${med[$L cold/$J_Q]-}" "${med[$L cold/$F_D]-}")"
		row "$L cold" "$F_H" 1.00
		row "$L cold" "$CAT" "$(r "${med[$L cold/$CAT]-}" "${med[$L cold/$F_H]-}")"
	fi

	local x mem_ok=n/a
	x=$(r "$best_ms" "$fd")
	if [ -n "${rss_of[$L warm/$F_D]-}" ] && [ -n "$best" ] && [ -n "${rss_of[$L warm/$best]-}" ]; then
		mem_ok="${rss_of[$L warm/$F_D]} KiB vs ${rss_of[$L warm/$best]} KiB → $([ "${rss_of[$L warm/$F_D]}" -le "${rss_of[$L warm/$best]}" ] && echo "**met**" || echo "**missed**")"
	fi
	targets+=("$L: \`fsindex dups\` ≥ 2x faster than the fastest peer (\`$best\`, ${best_ms:-?} ms): ${x}x → $(verdict "$x" 2 '>='); peak memory no more than it: $mem_ok")
	x=$(r "${med[$L warm/$J]-}" "${med[$L warm/$F_V]-}")
	targets+=("$L: \`fsindex dups --verify\` against \`jdupes -r\` (both compare bytes): ${x}x (no target; above 1 = fsindex faster)")
	x=$(r "${med[$L warm/$F_R]-}" "${med[$L warm/$S_R]-}")
	targets+=("$L: repeat \`dups\` over the unchanged tree ≤ 1.2x an unchanged rescan: ${x}x → $(verdict "$x" 1.2 '<=')")
	x=$(r "${med[$L warm/$F_H]-}" "${med[$L warm/$CAT]-}")
	targets+=("$L: \`scan --hash\` within 1.3x of the parallel \`cat\`: ${x}x → $(verdict "$x" 1.3 '<=')")
	if [ "$cold_runs" -gt 0 ]; then
		x=$(r "${med[$L cold/$J_Q]-}" "${med[$L cold/$F_D]-}")
		targets+=("$L, cold cache: \`dups\` ≥ 1.5x faster than \`jdupes -r -Q\`: ${x}x → $(verdict "$x" 1.5 '>=')")
	fi
}

: >"$res/rss.log"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bench_tree generated "$G" "$runs"
if [ -n "$usr" ]; then
	bench_tree usr "$usr" "$usr_runs"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$work"/dups-db-*

# ---------------------------------------------------------------- report
{
	echo "## Duplicate-finding benchmark"
	echo
	echo "$version${bin_note-}, $(date -u +%Y-%m-%d), Linux $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)),"
	echo "$(df -T "$G" | awk 'NR == 2 { print $2 }') on $(df "$G" | awk 'NR == 2 { print $1 }'). Generated tree: \`gentree.sh DIR $nfiles $seed\`."
	echo "hyperfine --runs $runs (generated tree), $usr_runs (${usr:-no real tree}), $cold_runs cold (\`sync; echo 3 >/proc/sys/vm/drop_caches\` before each);"
	echo "warm runs follow a full read of the tree. Load average before $load_before, after $load_after."
	echo "Versions: $(jdupes -v 2>/dev/null | head -1), rmlint $(rmlint --version 2>&1 | head -1 | sed "s/ *compiled.*//; s/^version //"), $(fdupes --version 2>/dev/null | head -1), $(xxh128sum --version 2>&1 | head -1)."
	echo
	echo "| Case | Command | Median [ms] | Mean ± σ [ms] | Peak RssAnon [KiB] | Ratio |"
	echo "|:---|:---|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Ratio: the row's median / the median of the fsindex row it is compared with (the"
	echo "row above marked 1.00); above 1 = fsindex faster. For \"repeat\" it is the repeat's"
	echo "median over the unchanged rescan's (at most 1.2 wanted)."
	echo
	echo "Commands (TREE = the tree):"
	echo
	echo "- \`fsindex dups --no-index -q TREE\`: scan into a temporary index, find duplicates by size, 4 KiB head/tail hashes, full XXH3-128; nothing kept"
	echo "- \`jdupes -r -Q -q TREE\`: hashes only, like fsindex without --verify; \`jdupes -r -q\` compares bytes, like \`--verify\`"
	echo "- \`rmlint -T df -o fdupes TREE >/dev/null\`: duplicates only (default hash, no byte compare)"
	echo "- \`fdupes -r -q TREE\`: MD5 then byte compare"
	echo "- repeat: \`fsindex dups --db DB -q TREE\` with DB filled by one earlier \`dups\`; rescan: \`fsindex scan --db DB2 -q TREE\` with DB2 filled by one earlier \`scan\`"
	echo "- \`fsindex scan --hash --db FRESH -q TREE\` (FRESH deleted before each run) against \`find TREE -type f -print0 | xargs -0 -P2 -n 512 cat\` (or \`xxh128sum\`) \`>/dev/null\`"
	echo
	echo "Targets:"
	echo
	printf -- '- %s\n' "${targets[@]}"
	if [ ${#notes[@]} -gt 0 ]; then
		echo
		echo "Notes:"
		echo
		printf -- '- %s\n' "${notes[@]}"
	fi
} >"$res/results-dups.md"
cp "$res/results-dups.md" "$out"
say "results ($out; raw data in $res)"
cat "$out"
