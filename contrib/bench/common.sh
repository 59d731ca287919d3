# common.sh - sourced by scan.sh and dups.sh: the helpers both benchmarks use.
# The caller sets prog (its name for messages), here, top, work, idle_wait
# and an array notes before calling them.

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$here/$prog" >&2
	exit 2
}
num() {
	case $2 in '' | *[!0-9]*) echo "$prog: $1 needs a number" >&2; exit 2 ;; esac
}
say() { printf '\n== %s\n' "$*" >&2; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# check_paths: make FSINDEX and work absolute, refuse a work dir in the repo.
check_paths() {
	FSINDEX=${FSINDEX:-$top/fsindex}
	case $FSINDEX in /*) ;; *) FSINDEX=$PWD/$FSINDEX ;; esac
	case $work in /*) ;; *) work=$PWD/$work ;; esac
	case $work/ in "$top"/*)
		echo "$prog: refusing a work directory inside the repository ($work)" >&2
		exit 2 ;;
	esac
	export BENCH_WORK=$work
}

# deps TOOL:PACKAGE...: install what is missing (as root, with apt-get).
deps() {
	local missing=() t
	for t in "$@"; do
		command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing ${missing[*]}"
		apt-get install -y "${missing[@]}" >&2 ||
			{ apt-get update >&2 && apt-get install -y "${missing[@]}" >&2; }
	else
		echo "$prog: missing tools; install: ${missing[*]}" >&2
		exit 1
	fi
}

# tree NAME GENTREE-ARGS...: the generated tree WORK/NAME, built once and
# kept while gentree.c and the arguments stay the same; prints its path.
tree() {
	local name=$1 dir=$work/$1 marker stamp t0
	shift
	marker=$work/$name.ok
	stamp="$(cksum <"$here/gentree.c") $*"
	if [ -d "$dir" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$stamp" ]; then
		echo "$dir"
		return 0
	fi
	rm -f "$marker"
	say "generating $dir ($*)"
	t0=$(now)
	"$here/gentree.sh" --force "$dir" "$@" >&2
	say "generated in $(elapsed "$t0" "$(now)") s"
	echo "$stamp" >"$marker"
	echo "$dir"
}

# wait_idle: wait up to idle_wait seconds for the load average to drop below 0.7.
wait_idle() {
	local waited=0 load
	[ "$idle_wait" -gt 0 ] || return 0
	while :; do
		read -r load _ </proc/loadavg
		awk -v l="$load" 'BEGIN { exit !(l < 0.7) }' && return 0
		if [ $waited -ge "$idle_wait" ]; then
			say "machine still busy (load $load) after ${idle_wait}s; measuring anyway"
			notes+=("the load average was still $load when measuring started")
			return 0
		fi
		[ $waited -eq 0 ] && say "waiting for the machine to go idle (load $load)"
		sleep 10
		waited=$((waited + 10))
	done
}
