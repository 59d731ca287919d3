#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tools.sh - every command the tests run is installed.  A test that finds one
# missing skips what needs it, with the reason; this one fails instead, once
# per command, naming the package, so that a `make check` that passed ran
# every oracle.  The list is tests/deps.sh's, which installs each package.
# FSINDEX_ALLOW_MISSING_TOOLS=1 turns the failures into skips (a build
# environment that cannot have some of them).

. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$top_srcdir/tests/integ/lib.sh" || exit 99

deps=$top_srcdir/tests/deps.sh
list=$(sh "$deps" --tools) || bail "sh $deps --tools failed"
[ -n "$list" ] || bail "sh $deps --tools listed nothing"

# mkfs.xfs and friends live in /usr/sbin, which a user's PATH may lack.
while read -r cmd pkg; do
	if PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1; then
		pass "$cmd is installed ($pkg)"
	elif [ "${FSINDEX_ALLOW_MISSING_TOOLS:-}" = 1 ]; then
		skip "$cmd is installed ($pkg)" "not installed, allowed by FSINDEX_ALLOW_MISSING_TOOLS"
	else
		fail "$cmd is installed ($pkg)"
		diag "$cmd not found: install the Debian package $pkg (sh tests/deps.sh installs every one)"
	fi
done <<<"$list"

# The JSON oracle of json.sh and dups.sh needs perl's core modules, which
# perl-base alone lacks.
if perl -MJSON::PP -MMIME::Base64 -MEncode -MMath::BigFloat -e 1 2>/dev/null; then
	pass "perl has JSON::PP, MIME::Base64, Encode and Math::BigFloat (perl)"
elif [ "${FSINDEX_ALLOW_MISSING_TOOLS:-}" = 1 ]; then
	skip "perl has JSON::PP and friends (perl)" "not installed, allowed by FSINDEX_ALLOW_MISSING_TOOLS"
else
	fail "perl has JSON::PP, MIME::Base64, Encode and Math::BigFloat (perl)"
	diag "install the Debian package perl (sh tests/deps.sh does)"
fi

done_testing
