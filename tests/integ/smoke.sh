#!/bin/bash
# smoke.sh - a small end-to-end scan with many workers, self-contained so the
# TSan build can run it: scan, compare with find(1), change, rescan, compare.
set -u
: "${FSINDEX:?FSINDEX must name the fsindex binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fsindex-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if "$@"; then echo "ok $n - ${desc:-$*}"; else failed=$((failed + 1)); echo "not ok $n - ${desc:-$*}"; fi; }
echo "1..6"

root=$tmp/tree
for d in $(seq 1 40); do
	mkdir -p "$root/d$d/sub$((d % 7))/leaf"
	for f in $(seq 1 25); do printf '%s' "$d$f" >"$root/d$d/sub$((d % 7))/f$f"; done
	ln -s "../d$d" "$root/d$d/link"
done
db=$tmp/db
dump() { "$FSINDEX" find --db "$db" --printf '%y %s %T@ %p\n' | sort; }
oracle() { find -P "$root" -printf '%y %s %T@ %p\n' | sort; }

desc="scan with 8 workers exits 0" ok timeout 120 "$FSINDEX" scan --db "$db" -q -j8 "$root"
desc="index equals find -printf" ok cmp -s <(dump) <(oracle)

rm -rf "$root/d3" "$root/d7/sub0"
mkdir "$root/new" && echo hi >"$root/new/file"
echo longer >"$root/d1/sub1/f1"
desc="rescan exits 0" ok timeout 120 "$FSINDEX" scan --db "$db" -q -j8 "$root"
desc="index equals find -printf after changes" ok cmp -s <(dump) <(oracle)

desc="unchanged rescan exits 0" ok timeout 120 "$FSINDEX" scan --db "$db" -q -j3 "$root"
desc="index still equals find -printf" ok cmp -s <(dump) <(oracle)
[ "$failed" -eq 0 ]
