#!/bin/bash
# lookup.sh — how long `fsindex find --hash` takes on a large index: a lookup
# in the index's hash database, against a full pass over the same index
# (`find --count`, what every query cost before the lookup existed).
#
# usage: lookup.sh [--files N] [--dir WORKDIR] [--runs N] [--idle-wait S] [--out FILE]
#
#   --files N        files in the generated tree (default 1000000)
#   --dir WORKDIR    work directory shared with scan.sh (default /tmp/fsindex-bench)
#   --runs N         hyperfine runs per command (default 10)
#   --idle-wait S    wait up to S s for the load average to drop below 0.7 (default 600)
#   --out FILE       markdown results (default contrib/bench/results-lookup.md)
#
# The tree has small files (200 bytes on average), so `scan --hash` of a
# million of them takes a minute or two; it is generated once and kept.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
prog=lookup.sh
# shellcheck source=common.sh
. "$here/common.sh"

nfiles=1000000 work=/tmp/fsindex-bench runs=10 idle_wait=600 out=$here/results-lookup.md
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
deps hyperfine:hyperfine xxh128sum:xxhash
mkdir -p "$work/results-lookup"
T=$(tree "lookup-$nfiles" --total $((nfiles * 200)) "$nfiles" 7)
db=$work/lookup-db-$nfiles
if ! "$FSINDEX" find --db "$db" --count --type f >/dev/null 2>&1; then
	say "scan --hash of $T into $db"
	rm -rf "$db"
	t0=$(now)
	"$FSINDEX" scan --db "$db" --hash -q "$T"
	notes+=("scan --hash of the tree took $(elapsed "$t0" "$(now)") s")
fi
entries=$("$FSINDEX" find --db "$db" --count)
# A file whose content nothing else has, and the content most files share
# (gentree's exact copies), found through the index itself.
one=$(find "$T" -type f -size +150c -print -quit)
h1=$(xxh128sum <"$one") h1=${h1%% *}
n1=$("$FSINDEX" find --db "$db" --count --hash "$h1")
hempty=$(xxh128sum </dev/null) hempty=${hempty%% *}
nempty=$("$FSINDEX" find --db "$db" --count --hash "$hempty" || true)

wait_idle
csv=$work/results-lookup/lookup.csv
F=$(printf '%q' "$FSINDEX") D=$(printf '%q' "$db")
hyperfine -N --runs "$runs" --warmup 2 --style basic --export-csv "$csv" \
	-n "find --hash (a unique content: $n1 file)" "$F find --db $D --count --hash $h1" \
	-n "find --hash (empty files: $nempty)" "$F find --db $D --count --hash $hempty" \
	-n "find --count (a full pass)" "$F find --db $D --count" >&2

{
	echo "# find --hash on a large index"
	echo
	echo "Index of $entries entries (\`$T\`, $nfiles files); hyperfine --runs $runs, warm cache."
	echo "Ratio = the full pass's median / the command's median."
	echo
	echo "| Command | Median | Ratio |"
	echo "|:---|---:|---:|"
	awk -F, 'NR > 1 { name[NR] = $1; med[NR] = $4; full = $4 }
		END { for (i = 2; i <= NR; i++)
			printf "| `%s` | %.1f ms | %.1fx |\n", name[i], med[i] * 1000, full / med[i] }' "$csv"
	for n in "${notes[@]}"; do echo; echo "- $n"; done
} >"$out"
cat "$out"
