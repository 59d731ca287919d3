#!/bin/bash
# smoke.sh - a small end-to-end scan with many workers, self-contained so the
# TSan build can run it: scan, compare with find(1), change, rescan, compare;
# a scan cancelled midway by SIGINT, then completed.
set -u
: "${FSINDEX:?FSINDEX must name the fsindex binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fsindex-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if "$@"; then echo "ok $n - ${desc:-$*}"; else failed=$((failed + 1)); echo "not ok $n - ${desc:-$*}"; fi; }
echo "1..12"

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
# Content hashing: the rings, the idle hook and the writer together.
hashes() { "$FSINDEX" find --db "$db" --type f --json |
	sed -n 's/^{"path":"\([^"]*\)".*"hash":"\([0-9a-f]*\)".*/\2  \1/p' | sort; }
oracle_hashes() { find "$root" -type f -print0 | xargs -0 xxh128sum | sort; }
desc="scan --hash with 8 workers exits 0" ok timeout 120 "$FSINDEX" scan --db "$db" -q -j8 --hash "$root"
desc="every stored hash equals xxh128sum" ok cmp -s <(hashes) <(oracle_hashes)
# Files hold "$d$f", so d1/f11 and d11/f1 are copies: count the groups both ways.
groups_oracle() { find "$root" -type f -size +0 -print0 | xargs -0 xxh128sum |
	awk '{ c[$1]++ } END { n = 0; for (h in c) if (c[h] > 1) n++; print n }'; }
groups_dups() { "$FSINDEX" dups --db "$db" -q -j8 "$root" | awk 'BEGIN { RS = "" } END { print NR }'; }
desc="dups finds as many groups as xxh128sum does" ok test "$(groups_dups)" = "$(groups_oracle)"

# A scan cancelled by SIGINT while its workers run: exit 130 (or 0 if it
# was over first), and the next scan completes the index.
big=$tmp/big
for d in $(seq 1 800); do
	mkdir -p "$big/d$d/s"
	touch "$big/d$d/s/f"{1..20}
done
db2=$tmp/db2
"$FSINDEX" scan --db "$db2" -q -j8 "$big" 2>"$tmp/cancel.err" &
pid=$!
for _ in $(seq 2000); do
	[ -s "$db2/data.mdb" ] && break
	sleep 0.005
done
kill -INT "$pid"
wait "$pid"
rc=$?
desc="a scan cancelled by SIGINT exits 130 (or 0, done first: $rc)" ok test "$rc" = 130 -o "$rc" = 0
desc="... and says it was interrupted, or nothing" ok test "$rc" = 0 -o -n "$(grep 'fsindex: interrupted' "$tmp/cancel.err")"
bdump() { "$FSINDEX" find --db "$db2" --printf '%y %s %T@ %p\n' | sort; }
desc="the next scan completes the index: it equals find -printf" ok eval 'timeout 120 "$FSINDEX" scan --db "$db2" -q -j8 "$big" && cmp -s <(bdump) <(find -P "$big" -printf "%y %s %T@ %p\n" | sort)'
[ "$failed" -eq 0 ]
