#!/bin/bash
# SPDX-License-Identifier: MIT
#
# regex.sh - `find --regex`: answers against grep -zE (C locale, whole
# NUL-terminated paths, so newlines and high bytes are ordinary bytes), and
# the patterns that crashed glibc's regcomp(), ran for minutes or took 24 GB:
# each must end within seconds, in bounded memory, refused (exit 2) or with
# the right answer.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

R=$T/tree
mk_weird_tree "$R" || bail "cannot build the test tree"
mkdir -p "$R/aaa/bab" "$R/x.c" && : >"$R/aaa/bab/ab.h" && : >"$R/aaaaaaaaaaaaaaaaaaaaaaaaaaaaab" ||
	bail "cannot build the test tree"
scan_ok "scan the tree" "$R"

# fsindex's -0 output and the oracle's, both sorted, as files to compare.
check_rx() {
	local desc=$1
	shift
	FSI find -0 "$@" | sort -z >"$T/rx.got"
	find -P "$R" -print0 | LC_ALL=C grep -zaE "${@: -1}" | sort -z >"$T/rx.exp"
	same_bytes "$desc" "$T/rx.got" "$T/rx.exp"
}

for pat in '\.(c|h)$' 'a{3}/b' '(a|b)+b$' 'w.l' $'\xff\xfe' '[[:space:]]' '^/[^/]+/' \
	'[^[:alnum:]/._-]' '(ab|a)*b{2,}' 'e$' 'tab[[:cntrl:]]here' 'a{2,4}' 'x\.c$'; do
	check_rx "--regex '$(printf '%q' "$pat")' = grep -zE" --regex "$pat"
done

# A sanitizer build reserves terabytes of shadow memory: no ulimit -v there.
if grep -qaE '__(a|t)san_init' "$FSINDEX"; then
	vlimit=unlimited
	diag "$FSINDEX is built with a sanitizer: no ulimit -v"
else
	vlimit=300000
fi

# hostile UNIT COUNT [TAIL]: fsindex find --regex (UNIT x COUNT)TAIL, in 300 MB and
# 20 s; sets $rc.
hostile() {
	local pat
	pat=$(printf "%$2s" '' | sed "s/ /$1/g")$3
	(
		ulimit -v $vlimit
		FSINDEX_DEBUG_MAPSIZE=$((16 << 20)) timeout -k 5 20 "$FSINDEX" find --db "$DB" -0 \
			--regex "$pat" >"$T/h.out" 2>"$T/h.err"
	)
	rc=$?
}

# 60,000 empty groups: SIGSEGV in glibc's recursive regcomp().  They need no
# automaton state, so the pattern is within bounds and matches every path.
hostile '()' 60000
is "$rc" 0 "'()' x 60000: exit 0, no crash"
find -P "$R" -print0 | sort -z >"$T/all.exp"
sort -z <"$T/h.out" >"$T/all.got"
same_bytes "'()' x 60000 matches every path" "$T/all.got" "$T/all.exp"

# '(a*)*' x 4000 backtracked for minutes in glibc; 'a?' x 60000 grew to 24 GB.
hostile '(a*)*' 4000
is "$rc" 2 "'(a*)*' x 4000: exit 2, within 20 s and $vlimit KB"
like "$(cat "$T/h.err")" 'too complex \(over [0-9]+ states\)' \
	"... the message says it is too complex"
hostile 'a?' 60000
is "$rc" 2 "'a?' x 60000: exit 2, within 20 s and $vlimit KB"
like "$(cat "$T/h.err")" 'too complex \(over [0-9]+ states\)' \
	"... the message says it is too complex"

# Within the cap, a nested star is linear: it matches every path.
hostile '(a*)*' 500
is "$rc" 0 "'(a*)*' x 500: exit 0"
sort -z <"$T/h.out" >"$T/all.got"
same_bytes "'(a*)*' x 500 matches every path" "$T/all.got" "$T/all.exp"
hostile '(a|aa)*' 200 'b$'
is "$rc" 0 "'(a|aa)*' x 200 'b\$': exit 0"
sort -z <"$T/h.out" >"$T/ab.got"
find -P "$R" -print0 | LC_ALL=C grep -zaE 'a*b$' | sort -z >"$T/ab.exp"
same_bytes "... the paths that 'a*b\$' matches" "$T/ab.got" "$T/ab.exp"

done_testing
