#!/bin/bash
# fallback.sh - with io_uring refused by a seccomp filter (EPERM, as container
# runtimes do, or ENOSYS), the ring must fall back to pread and still read
# every byte: run the ring unit test under tests/helpers/no-uring.
set -u
helper=$top_builddir/tests/helpers/no-uring
ringtest=$top_builddir/tests/unit/test-ring
for mode in "" --enosys; do
	"$helper" $mode true 2>/dev/null
	if [ $? -eq 125 ]; then
		echo "1..0 # SKIP cannot install a seccomp filter here"
		exit 0
	fi
done
# Two runs of test-ring, each a TAP stream; renumber into one.
n=0 fail=0
for mode in "" --enosys; do
	while IFS= read -r line; do
		case "$line" in
		"ok "* | "not ok "*)
			n=$((n + 1))
			case "$line" in not*) fail=$((fail + 1)) ;; esac
			desc=${line#*ok }
			desc=${desc#* }
			prefix=ok; [ "${line%% *}" = not ] && prefix="not ok"
			echo "$prefix $n - [no-uring ${mode:-EPERM}] ${desc#- }"
			;;
		"# exit "*)
			n=$((n + 1))
			if [ "$line" = "# exit 0" ]; then
				echo "ok $n - [no-uring ${mode:-EPERM}] test-ring exits 0"
			else
				echo "not ok $n - [no-uring ${mode:-EPERM}] test-ring ${line#\# }"
			fi
			;;
		"#"*) echo "$line" ;;
		esac
	done < <("$helper" $mode "$ringtest" --expect-sync 2>&1; echo "# exit $?")
done
echo "1..$n"
