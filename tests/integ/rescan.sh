#!/bin/bash
# SPDX-License-Identifier: MIT
#
# rescan.sh - incremental rescans: change the tree in every way a tree
# changes (add, remove, rename, resize, retime, replace a directory by a file
# and back, retarget a symlink), rescan, and compare with find again.  An
# unchanged rescan commits nothing; find answers from the index, not the disk;
# --exclude is remembered per root.

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

command -v mdb_stat >/dev/null || bail "mdb_stat not found (Debian package lmdb-utils)"

# The format of the strict comparison: also mode, link count and inode, which
# change when an entry is replaced by another of the same name.
FULL_FMT='%y %m %n %i %s %T@ %p\0'

txnid() {
	mdb_stat -e "$DB" 2>/dev/null | sed -n 's/.*Last transaction ID: *//p'
}

datasum() {
	sha256sum <"$DB/data.mdb" | cut -d' ' -f1
}

check_full() {
	find -P "$@" -printf "$FULL_FMT" | sort -z >"$T/full.exp"
	FSI find --printf "$FULL_FMT" | sort -z >"$T/full.got"
	same_bytes "$1: mode, link count, inode too" "$T/full.got" "$T/full.exp"
}

R=$T/tree
mkdir -p "$R"
(
	cd "$R" || exit 1
	mkdir -p a b/sub/deeper c/olddir/x/y stable/inner sneaky dir2file dir2link
	for f in a/keep a/x a/grow a/shrink a/touched b/gone.txt b/sub/s1 \
		b/sub/deeper/s2 c/olddir/x/y/z c/olddir/o stable/grow \
		stable/inner/grow2 sneaky/old file2dir file2link dir2file/inside \
		dir2link/inside samesize; do
		printf 'content of %s\n' "$f" >"$f"
	done
	head -c 10000 /dev/zero >a/shrink
	ln -s a/keep link-retarget
	ln -s stable link2file
	ln a/keep hardlink
	mkfifo a/fifo
) || bail "cannot build the tree"
# Age the tree: the mtimes are in the past, and the ctimes over a second old
# (two seconds of the clock), so no timestamp is "racy" for the first scan and
# every directory settles: later scans reuse their stored entries.
find -P "$R" -exec touch -h -d '2020-02-02 12:00:00.5 UTC' {} +
sleep 2.1

# ---- first scan, unchanged rescans --------------------------------------------

scan_ok "first scan" "$R"
check_oracle "first scan" "$R"
check_full "$R"
txn1=$(txnid)
sum1=$(datasum)
like "$txn1" '^[0-9]+$' "mdb_stat reads the index's last transaction id ($txn1)"

scan_ok "unchanged rescan" "$R"
is "$(txnid)" "$txn1" "an unchanged rescan commits nothing (last txn id unchanged)"
is "$(datasum)" "$sum1" "an unchanged rescan leaves data.mdb byte-for-byte unchanged"
scan_ok "unchanged rescan, -j1" -j1 "$R"
scan_ok "unchanged rescan, -j8" -j8 "$R"
is "$(txnid)" "$txn1" "unchanged rescans with -j1 and -j8 commit nothing either"
check_oracle "after unchanged rescans" "$R"

# Settled directories are not listed again: only the root is (strace -y
# names each descriptor; -xx keeps odd bytes unambiguous).
if command -v strace >/dev/null; then
	timeout -k 5 "$FSI_TIMEOUT" env "$STRACE_ENV" strace -f -qq -y -xx -e trace=getdents64 \
		-o "$T/gd" "$FSINDEX" scan --db "$DB" -q "$R"
	is "$?" 0 "unchanged rescan under strace -e getdents64 exits 0"
	perl -ne 's/\\x([0-9a-f]{2})/chr hex $1/ge; print "$1\n" if /getdents64\(\d+<([^>]*)>/' \
		"$T/gd" | sort -u >"$T/gd.dirs"
	is "$(cat "$T/gd.dirs")" "$R" "... and lists only the root: the settled directories below it are not listed"
else
	skip "settled directories are not listed" "strace not installed"
fi

# ---- change everything, rescan ---------------------------------------------------

(
	cd "$R" || exit 1
	echo new >a/new.txt                             # add a file
	mkdir -p newdir/with/children && echo n >newdir/with/children/f
	rm b/gone.txt                                   # remove a file
	rm -r c/olddir                                  # remove a subtree
	mv a/x a/y                                      # rename a file
	mv b/sub b/sub2                                 # rename a directory
	echo more >>a/grow                              # grow
	truncate -s 10 a/shrink                         # shrink
	touch -d '2001-01-01 01:01:01.000000001 UTC' a/touched  # retime only
	echo more >>stable/grow                         # dir mtime unchanged
	echo more >>stable/inner/grow2
	echo x >sneaky/added                            # dir mtime restored, ctime not
	touch -d '2020-02-02 12:00:00.5 UTC' sneaky
	rm -r dir2file && echo now-a-file >dir2file     # directory -> file
	rm file2dir && mkdir file2dir && echo i >file2dir/inside  # file -> dir
	rm -r dir2link && ln -s a dir2link              # directory -> symlink
	rm file2link && ln -s /nowhere file2link        # file -> symlink
	rm link2file && echo f >link2file               # symlink -> file
	rm link-retarget && ln -s a/grow-longer-target link-retarget
	chmod 600 a/keep                                # mode only
	ln a/keep a/hardlink2                           # link count
	printf 'CONTENT of samesize\n' >samesize.tmp && mv samesize.tmp samesize  # same size, new inode
	touch -d '2020-02-02 12:00:00.5 UTC' samesize
	rm a/fifo && mkdir a/fifo                       # FIFO -> directory
) || bail "cannot change the tree"

scan_ok "rescan after changes" "$R"
check_oracle "after changes" "$R"
check_full "$R"
is "$(FSI find --count b/sub/)" 0 "a renamed directory's old children are gone"
is "$(FSI find --count b/sub2/deeper/s2)" 1 "... and are listed under the new name"
is "$(FSI find --count "$R/c/olddir")" 0 "a removed subtree is gone"
is "$(FSI find --printf '%y' --regex '/dir2file$')" f "a directory replaced by a file is a file"
is "$(FSI find --count dir2file/)" 0 "... and its old children are gone"
is "$(FSI find --printf '%y' --regex '/file2dir$')" d "a file replaced by a directory is a directory"
is "$(FSI find --printf '%s' --name grow2)" "$(stat -c %s "$R/stable/inner/grow2")" \
	"a file grown in a directory whose mtime did not change is updated"
is "$(FSI find --count sneaky/added)" 1 "a file added to a directory whose mtime was restored (ctime changed)"
txn2=$(txnid)
ok "the rescan committed (txn id moved on from $txn1 to $txn2)" test "$txn2" -gt "$txn1"

sleep 1.1
scan_ok "second rescan (nothing changed since)" "$R"
txn3=$(txnid)
scan_ok "third rescan" "$R"
is "$(txnid)" "$txn3" "unchanged again: nothing committed"
check_oracle "after an unchanged rescan of a changed tree" "$R"

# ---- more rounds, alternating -j -------------------------------------------------

for round in 1 2 3; do
	(
		cd "$R" || exit 1
		mkdir -p "round$round/d" && echo "$round" >"round$round/d/f"
		[ "$round" -gt 1 ] && rm -r "round$((round - 1))"
		mv a "a$round" && mkdir a && mv "a$round" a/
		echo "$round" >>newdir/with/children/f
	) || bail "round $round"
	case $round in 1) j=-j1 ;; 2) j=-j8 ;; *) j=-j2 ;; esac
	scan_ok "round $round: rescan $j" $j "$R"
	check_oracle "round $round" "$R"
done

# ---- find answers from the index, not the disk ------------------------------------------

echo stale >"$R/stale-file"
scan_ok "scan with stale-file" "$R"
index_paths >"$T/snapshot"
rm "$R/stale-file"
echo fresh >"$R/fresh-file"
mkdir "$R/fresh-dir"
FSI find stale-file >/dev/null
is "$?" 0 "find still lists a file deleted since the scan"
FSI find fresh- >/dev/null
is "$?" 1 "find does not list files created since the scan"
index_paths >"$T/snapshot2"
same_bytes "find shows exactly the indexed state" "$T/snapshot2" "$T/snapshot"
scan_ok "rescan" "$R"
FSI find stale-file >/dev/null
is "$?" 1 "after the rescan the deleted file is gone"
is "$(FSI find --count fresh-)" 2 "after the rescan the new entries are listed"
check_oracle "after the rescan" "$R"

# ---- several roots in one index --------------------------------------------------------

R2=$T/second
mkdir -p "$R2/s" && echo s >"$R2/s/f"
scan_ok "scan a second root into the same index" "$R2"
check_oracle "two roots" "$R" "$R2"
echo g >"$R/gone-later" && rm "$R2/s/f"
scan_ok "rescan the first root only" "$R"
FSI find "$R2/s/f" >/dev/null
is "$?" 0 "rescanning one root leaves the other as it was indexed"
scan_ok "rescan both" "$R" "$R2"
check_oracle "both rescanned" "$R" "$R2"

# ---- --exclude is remembered per root ----------------------------------------------------

DB=$T/db-ex
E=$T/ex
E2=$T/ex2
mkdir -p "$E/logs" "$E2"
echo >"$E/a.log"; echo >"$E/b.txt"; echo >"$E/logs/c.log"; echo >"$E/logs/d.txt"
echo >"$E2/x.log"; echo >"$E2/y.txt"
lsx() { find -P "$E" "$@" -print0 | sort -z; }

scan_ok "scan --exclude '*.log'" --exclude '*.log' "$E"
index_paths >"$T/ex.got"; lsx -name '*.log' -prune -o >"$T/ex.exp"
same_bytes "--exclude '*.log' applied" "$T/ex.got" "$T/ex.exp"

echo >"$E/new.log"; echo >"$E/new.txt"
scan_ok "rescan without --exclude" "$E"
index_paths >"$T/ex.got"; lsx -name '*.log' -prune -o >"$T/ex.exp"
same_bytes "rescan without --exclude keeps the stored '*.log'" "$T/ex.got" "$T/ex.exp"

scan_ok "scan another root without --exclude" "$E2"
is "$(FSI find --count "$E2/x.log")" 1 "the excludes of one root do not apply to another"

scan_ok "rescan with --exclude '*.txt'" --exclude '*.txt' "$E"
FSI find -0 --regex "^$E(/|\$)" | sort -z >"$T/ex.got"; lsx -name '*.txt' -prune -o >"$T/ex.exp"
same_bytes "a new --exclude replaces the stored ones" "$T/ex.got" "$T/ex.exp"

scan_ok "rescan without --exclude again" "$E"
FSI find -0 --regex "^$E(/|\$)" | sort -z >"$T/ex.got"
same_bytes "... and is remembered in turn" "$T/ex.got" "$T/ex.exp"

scan_ok "rescan with two excludes, one a path" --exclude '*.txt' --exclude "$E/logs" "$E"
FSI find -0 --regex "^$E(/|\$)" | sort -z >"$T/ex.got"
lsx \( -name '*.txt' -o -path "$E/logs" \) -prune -o >"$T/ex.exp"
same_bytes "two excludes stored" "$T/ex.got" "$T/ex.exp"
scan_ok "rescan" "$E"
FSI find -0 --regex "^$E(/|\$)" | sort -z >"$T/ex.got"
same_bytes "two excludes remembered" "$T/ex.got" "$T/ex.exp"

# New excludes on a settled tree: what the old ones left out must appear,
# though no directory changed (its stored entries were filtered).
DB=$T/db-ex3
E=$T/ex3
mkdir -p "$E/sub"
echo >"$E/a.log"; echo >"$E/b.txt"; echo >"$E/sub/c.log"; echo >"$E/sub/d.txt"
sleep 2.1
scan_ok "settled tree: scan --exclude '*.log'" --exclude '*.log' "$E"
scan_ok "... rescan (directories settled)" "$E"
scan_ok "... rescan with --exclude '*.txt' instead" --exclude '*.txt' "$E"
index_paths >"$T/ex.got"; lsx -name '*.txt' -prune -o >"$T/ex.exp"
same_bytes "... the '*.log' files left out before are there, the '*.txt' gone" "$T/ex.got" "$T/ex.exp"

scan_ok "--no-exclude" --no-exclude "$E"
index_paths >"$T/ex.got"; lsx >"$T/ex.exp"
same_bytes "--no-exclude: every entry, the '*.txt' files too" "$T/ex.got" "$T/ex.exp"
scan_ok "... rescan without options" "$E"
index_paths >"$T/ex.got"
same_bytes "... and no exclude is remembered" "$T/ex.got" "$T/ex.exp"
scan_ok "--no-exclude --exclude '*.log'" --no-exclude --exclude '*.log' "$E"
index_paths >"$T/ex.got"; lsx -name '*.log' -prune -o >"$T/ex.exp"
same_bytes "... an --exclude after --no-exclude applies" "$T/ex.got" "$T/ex.exp"

done_testing
