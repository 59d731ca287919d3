#!/bin/bash
# query.sh — `fsindex find` against `plocate` on the same generated tree:
# a rare substring, a common one (10%+ of the entries), a glob, a regex with
# a literal, a regex without one, -i; with the name index, with the full
# pass (FSINDEX_DEBUG_NAMEINDEX=off, on a task pool) and with the full pass
# on one thread (FSINDEX_DEBUG_PARALLEL=off too); index size and build time
# against plocate's updatedb.
#
# usage: query.sh [--files N] [--dir WORKDIR] [--runs N] [--idle-wait S] [--out FILE]
#
#   --files N        files in the generated tree (default 200000)
#   --dir WORKDIR    work directory shared with scan.sh (default /tmp/fsindex-bench)
#   --runs N         hyperfine runs per command (default 10)
#   --idle-wait S    wait up to S s for the load average to drop below 0.7 (default 0)
#   --out FILE       markdown results (default contrib/bench/results-query.md)
#
# The tree is gentree.sh --meta (empty files: a query reads names only, and
# an empty tree generates in seconds); it is kept between runs.  Every
# command prints a count (--count, plocate -c), and the script checks that
# both tools count the same for each pattern (a note says when not).
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
prog=query.sh
# shellcheck source=common.sh
. "$here/common.sh"

nfiles=200000 work=/tmp/fsindex-bench runs=10 idle_wait=0 out=$here/results-query.md
while [ $# -gt 0 ]; do
	case $1 in
	--files) num "$1" "${2-}"; nfiles=$2; shift ;;
	--dir) work=${2:?--dir needs a value}; shift ;;
	--runs) num "$1" "${2-}"; runs=$2; shift ;;
	--idle-wait) num "$1" "${2-}"; idle_wait=$2; shift ;;
	--out) out=${2:?--out needs a value}; shift ;;
	-h | --help) usage ;;
	*) echo "$prog: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done

check_paths
notes=()
deps hyperfine:hyperfine updatedb:plocate plocate:plocate mdb_stat:lmdb-utils
mkdir -p "$work/results-query"
T=$(tree "query-$nfiles" --meta "$nfiles" 3)
db=$work/query-db-$nfiles pdb=$work/query-plocate-$nfiles.db
upd_opts=(-l 0 --prunepaths '' --prunefs '' --prunenames '' --prune-bind-mounts no)

# Build both indexes from scratch, timed once each (hyperfine would rebuild
# them several times; the scan benchmark, scan.sh, does that).
rm -rf "$db" "$pdb"
t0=$(now)
"$FSINDEX" scan --db "$db" -q "$T"
t_scan=$(elapsed "$t0" "$(now)")
t0=$(now)
updatedb "${upd_opts[@]}" -U "$T" -o "$pdb"
t_upd=$(elapsed "$t0" "$(now)")
entries=$("$FSINDEX" find --db "$db" --count)
gram=$(mdb_stat -s gram "$db" 2>/dev/null | awk '/Leaf pages|Branch pages|Overflow pages/ { n += $3 } END { print n * 4096 }')
size_db=$(stat -c %s "$db/data.mdb")
size_pdb=$(stat -c %s "$pdb")

# The patterns, picked from the tree itself.
rare=$(find "$T" -type f -name '*_*' -print -quit)
rare=${rare##*/} rare=${rare%.*}
upper=$(printf '%s' "$rare" | tr a-z A-Z)
common=lib
names=("rare substring" "common substring" "glob" "regex with a literal" "regex without one" "-i")
opts=("" "" "" --regex --regex -i)
pats=("$rare" "$common" '*/data*/*.json' 'data[a-z]*_[0-9a-z]+\.json$' '_[0-9][a-z0-9]*\.c$' "$upper")

wait_idle
F=$(printf '%q' "$FSINDEX") D=$(printf '%q' "$db") P=$(printf '%q' "$pdb")
hf=()
for i in "${!names[@]}"; do
	o=(${opts[$i]}) p=${pats[$i]}
	nf=$("$FSINDEX" find --db "$db" --count "${o[@]}" -- "$p" || true)
	np=$(plocate -d "$pdb" -c "${o[@]}" -- "$p" || true)
	used=$(FSINDEX_DEBUG_NAMEINDEX=trace "$FSINDEX" find --db "$db" --count "${o[@]}" -- "$p" 2>&1 >/dev/null |
		grep -c '^fsindex: name index: ' || true)
	[ "$nf" = "$np" ] || notes+=("${names[$i]}: fsindex counts $nf, plocate $np")
	via=$([ "$used" -gt 0 ] && echo "name index" || echo "full pass")
	# hyperfine -N splits its command as a shell would: quote the pattern.
	hf+=(-n "fsindex: ${names[$i]} \`$p\` ($nf hits; $via)" "$F find --db $D --count ${o[*]} -- '$p'")
	[ "$used" -gt 0 ] && hf+=(-n "fsindex full pass: ${names[$i]}"
		"env FSINDEX_DEBUG_NAMEINDEX=off $F find --db $D --count ${o[*]} -- '$p'")
	hf+=(-n "fsindex full pass on one thread: ${names[$i]}"
		"env FSINDEX_DEBUG_NAMEINDEX=off FSINDEX_DEBUG_PARALLEL=off $F find --db $D --count ${o[*]} -- '$p'")
	hf+=(-n "plocate: ${names[$i]} ($np hits)" "plocate -d $P -c ${o[*]} -- '$p'")
done
notes+=("the common substring \`$common\` is in $("$FSINDEX" find --db "$db" --count "$common") of $entries paths")
csv=$work/results-query/query.csv
hyperfine -N --runs "$runs" --warmup 2 --style basic --export-csv "$csv" "${hf[@]}" >&2

{
	echo "# find against plocate"
	echo
	echo "Tree \`gentree.sh --meta $nfiles 3\`: $entries entries in the index; hyperfine"
	echo "--runs $runs, warm cache, \`--count\` / \`plocate -c\` (plocate checks each"
	echo "hit's visibility, as it always does; fsindex's per-user index needs none)."
	echo
	echo "| Command | Median | Min |"
	echo "|:---|---:|---:|"
	awk -F, 'NR > 1 { printf "| %s | %.1f ms | %.1f ms |\n", $1, $4 * 1000, $7 * 1000 }' "$csv"
	echo
	echo "| Index | Build | Size | Bytes per entry |"
	echo "|:---|---:|---:|---:|"
	awk -v e="$entries" -v s="$size_db" -v g="$gram" -v t="$t_scan" 'BEGIN {
		printf "| fsindex (whole index) | %s s | %.1f MB | %.0f |\n", t, s / 1e6, s / e
		printf "| fsindex name index (`gram`) | (in the scan) | %.1f MB | %.1f |\n", g / 1e6, g / e }'
	awk -v e="$entries" -v s="$size_pdb" -v t="$t_upd" 'BEGIN {
		printf "| plocate (updatedb -l 0) | %s s | %.1f MB | %.1f |\n", t, s / 1e6, s / e }'
	for n in "${notes[@]}"; do echo; echo "- $n"; done
} >"$out"
cat "$out"
