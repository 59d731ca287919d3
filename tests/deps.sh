#!/bin/sh
# Install what building and testing fsindex needs on Debian 12 (bookworm).
# Build: compiler, autotools, autoconf-archive, pkg-config, the four -dev
# libraries.  Tests: lmdb-utils (mdb_stat, mdb_load), xxhash, util-linux
# (setpriv), clang + compiler-rt for the sanitizer and fuzz builds.
set -e
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake autoconf-archive pkg-config \
	liburing-dev libxxhash-dev liblmdb-dev libsystemd-dev \
	lmdb-utils xxhash util-linux procps findutils coreutils ${FSINDEX_EXTRA_DEPS:-} >/dev/null
