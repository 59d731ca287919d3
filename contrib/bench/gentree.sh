#!/bin/bash
# gentree.sh — generate a deterministic benchmark tree (see gentree.c).
#
# usage: gentree.sh [--meta | --chain | --wide-dirs | --wide-files]
#                   [--total BYTES] [--force] DIR NFILES [SEED]
#
#   (default)    ~NFILES files over ~NFILES/4 directories, depth 1..12,
#                log-uniform sizes, copies and same-size files; total size
#                BYTES (default NFILES * 10500, ~2.1 GB for 200k files)
#   --meta       same shape, every file empty (1,000,000-file memory test)
#   --chain      NFILES nested directories (d/d/d/...), a file at the bottom
#   --wide-dirs  one directory with NFILES empty subdirectories
#   --wide-files one directory with NFILES empty files (same names)
#   --force      remove DIR first if it exists
#
# The generator is compiled from gentree.c into $BENCH_WORK/bin
# (default /tmp/fsindex-bench/bin) the first time, and whenever the
# source is newer than the binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=${BENCH_WORK:-/tmp/fsindex-bench}
mode=tree total= force=0

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

args=()
while [ $# -gt 0 ]; do
	case $1 in
	--meta) mode=meta ;;
	--chain) mode=chain ;;
	--wide-dirs) mode=wide-dirs ;;
	--wide-files) mode=wide-files ;;
	--total) total=${2:?--total needs a value}; shift ;;
	--total=*) total=${1#--total=} ;;
	--force) force=1 ;;
	-h|--help) usage ;;
	--) shift; args+=("$@"); break ;;
	-*) echo "gentree.sh: unknown option '$1'" >&2; usage ;;
	*) args+=("$1") ;;
	esac
	shift
done
set -- "${args[@]}"
[ $# -ge 2 ] && [ $# -le 3 ] || usage
dir=$1 nfiles=$2 seed=${3:-1}
case $nfiles$seed$total in *[!0-9]*) echo "gentree.sh: NFILES, SEED and BYTES are numbers" >&2; exit 2 ;; esac

bin=$work/bin/gentree
mkdir -p "$work/bin"
if [ ! -x "$bin" ] || [ "$here/gentree.c" -nt "$bin" ]; then
	${CC:-cc} -std=gnu17 -O2 -Wall -Wextra -Wno-unused-parameter \
		-o "$bin.tmp" "$here/gentree.c" -lm
	mv -f "$bin.tmp" "$bin"
fi

if [ -e "$dir" ] || [ -L "$dir" ]; then
	if [ $force = 1 ]; then
		rm -rf -- "$dir"
	else
		echo "gentree.sh: '$dir' exists (use --force to replace it)" >&2
		exit 1
	fi
fi
mkdir -p -- "$(dirname -- "$dir")"
exec "$bin" "$mode" "$dir" "$nfiles" "$seed" ${total:+"$total"}
