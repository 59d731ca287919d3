#!/bin/bash
# rss.sh — run a command and report its peak private memory (peak RssAnon).
#
# usage: rss.sh [-o FILE] [-i SECONDS] [-C] CMD [ARGS...]
#
#   -o FILE     also write "PEAK_RSSANON_KIB PEAK_VMRSS_KIB VMHWM_KIB SAMPLES"
#               (one line) to FILE
#   -i SECONDS  sampling interval (default 0.01)
#   -C          main process only (do not look for child processes)
#
# CMD runs in the background with rss.sh's stdout/stderr; every interval
# rss.sh reads /proc/PID/status and records VmRSS and RssAnon.  RssAnon is
# summed over the process and its descendants (threads share one mm and are
# counted once).  At the end one line goes to stderr:
#   rss: peak RssAnon N KiB (peak VmRSS N KiB, VmHWM N KiB, N samples): CMD
# and rss.sh exits with CMD's exit status.
#
# Why RssAnon and not VmRSS / VmHWM / ru_maxrss: VmRSS = RssAnon + RssFile +
# RssShmem.  An LMDB index is mmap()ed; the pages of data.mdb the process
# touches are page cache (RssFile, or RssShmem for shared mappings): they are
# shared with every other reader, reclaimable, and grow with the index, not
# with the program's working memory.  RssAnon is the private, unreclaimable
# memory (heap, thread stacks, LMDB's malloc'd dirty pages of an open write
# transaction).  The kernel keeps a high-water mark only for VmRSS (VmHWM),
# so the RssAnon peak is sampled: a spike shorter than the interval can be
# missed, and a command that lives less than one interval may show only its
# start-up footprint.
#
# Children: this kernel may lack /proc/PID/task/TID/children; then
# descendants are found by scanning /proc/*/stat for PPid every 20 samples
# (~200 ms), so a child that lives less than that can be missed.
set -uo pipefail

out= interval=0.01 children=1
while getopts 'o:i:Ch' opt; do
	case $opt in
	o) out=$OPTARG ;;
	i) interval=$OPTARG ;;
	C) children=0 ;;
	*) sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
	echo "usage: rss.sh [-o FILE] [-i SECONDS] [-C] CMD [ARGS...]" >&2
	exit 2
fi

read -r mycomm </proc/$$/comm
exec {sleepfd}<> <(:)

"$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' TERM INT HUP

peak_anon=0 peak_rss=0 hwm=0 samples=0 n=0 started=0
pids=("$pid")
have_children_file=0
[ -e /proc/$pid/task/$pid/children ] && have_children_file=1

# value of field $2 (e.g. RssAnon) in status text $1, in kB; 0 if absent
field() {
	local s=${1#*$'\n'"$2":}
	if [ "$s" = "$1" ]; then
		REPLY=0
		return
	fi
	s=${s%%kB*}
	REPLY=$((10#${s//[!0-9]/}))
}

# refresh "pids" with pid and all its descendants
find_descendants() {
	local f line rest pp p i
	local -A parent=()
	if [ $have_children_file = 1 ]; then
		local queue=("$pid") kids
		pids=()
		while [ ${#queue[@]} -gt 0 ]; do
			p=${queue[0]}
			queue=("${queue[@]:1}")
			pids+=("$p")
			for f in /proc/$p/task/*/children; do
				read -r -a kids 2>/dev/null <"$f" || true
				queue+=("${kids[@]}")
			done
		done
		return
	fi
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		rest=${line##*) }	# after "(comm) "
		read -r _ pp _ <<<"$rest"
		p=${f#/proc/}
		parent[${p%/stat}]=$pp
	done
	pids=("$pid")
	for ((i = 0; i < ${#pids[@]}; i++)); do
		for p in "${!parent[@]}"; do
			[ "${parent[$p]}" = "${pids[$i]}" ] && pids+=("$p")
		done
	done
}

while :; do
	if [ $children = 1 ] && [ $((n % 20)) -eq 1 ]; then
		find_descendants
	fi
	n=$((n + 1))
	anon=0 rss=0 main_alive=0
	for p in "${pids[@]}"; do
		S=
		read -r -d "" S 2>/dev/null </proc/$p/status
		[ -n "$S" ] || continue
		case $S in *$'\nState:\tZ'*|*$'\nState:\tX'*) continue ;; esac
		if [ $p = $pid ]; then
			main_alive=1
			if [ $started = 0 ]; then
				# skip the forked copy of this shell before it execs CMD
				c=
				read -r c 2>/dev/null </proc/$p/comm
				[ "$c" = "$mycomm" ] && [ $n -lt 5 ] && continue
				started=1
			fi
			field "$S" VmHWM; hwm=$REPLY
		fi
		field "$S" RssAnon; anon=$((anon + REPLY))
		field "$S" VmRSS; rss=$((rss + REPLY))
	done
	[ $main_alive = 1 ] || break
	if [ $started = 1 ] && [ $anon -gt 0 ]; then
		samples=$((samples + 1))
		[ $anon -gt $peak_anon ] && peak_anon=$anon
		[ $rss -gt $peak_rss ] && peak_rss=$rss
	fi
	read -r -t "$interval" -u $sleepfd _ || true
done

wait $pid
rc=$?
echo "rss: peak RssAnon $peak_anon KiB (peak VmRSS $peak_rss KiB, VmHWM $hwm KiB, $samples samples): $*" >&2
if [ -n "$out" ]; then
	echo "$peak_anon $peak_rss $hwm $samples" >"$out"
fi
exit $rc
