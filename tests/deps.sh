#!/bin/sh
# Install everything building fsindex and running `make check` needs on
# Debian 12 (bookworm), so that no test is skipped for a missing tool.
#
#   sh tests/deps.sh           install (as root, or through sudo)
#   sh tests/deps.sh --tools   print "COMMAND PACKAGE", one a line, for every
#                              command the tests run (tests/integ/tools.sh
#                              checks each is installed), and install nothing
#
# FSINDEX_EXTRA_DEPS adds packages: .ci/run adds clang and compiler-rt for its
# sanitizer and fuzz builds, which the README's commands do not run.
set -e

# Build: compiler, autotools, autoconf-archive, pkg-config, the four -dev libraries.
BUILD="build-essential autoconf automake autoconf-archive pkg-config
	liburing-dev libxxhash-dev liblmdb-dev libsystemd-dev"

# Tests: the commands they run, and where each comes from.  Most packages are
# in every Debian system already; they are named so that none can go missing.
TOOLS="
mdb_stat lmdb-utils
mdb_load lmdb-utils
xxh128sum xxhash
setpriv util-linux
setarch util-linux
script bsdutils
mount mount
umount mount
losetup mount
filefrag e2fsprogs
mkfs.ext4 e2fsprogs
strace strace
jdupes jdupes
jq jq
mkfs.xfs xfsprogs
mkfs.btrfs btrfs-progs
perl perl
cmp diffutils
find findutils
pgrep procps
timeout coreutils
base64 coreutils
truncate coreutils
iconv libc-bin
md5sum coreutils
zsh zsh
"

if [ "${1:-}" = --tools ]; then
	printf '%s\n' "$TOOLS" | grep .
	exit 0
fi

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # the lists are meant to be split
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $BUILD \
	$(printf '%s\n' "$TOOLS" | awk 'NF == 2 { print $2 }' | sort -u) \
	${FSINDEX_EXTRA_DEPS:-} >/dev/null
