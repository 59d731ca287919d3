#!/bin/bash
# SPDX-License-Identifier: MIT
#
# completion.sh - the bash completion (contrib/completion/fsindex.bash),
# sourced into this shell and called as readline would: COMP_WORDS and
# COMP_CWORD set, _fsindex run, COMPREPLY checked.  Subcommands, each
# command's options against its own --help, the values of --type, --sort,
# --io and --keep (split at '=' as readline does, and whole), directories
# for scan and --under.  The zsh one is only parsed (zsh -n) when zsh is
# installed.

. "${top_srcdir:-.}/tests/integ/lib.sh"

. "$top_srcdir/contrib/completion/fsindex.bash" || bail "cannot source the bash completion"
_fsindex_cmd=$FSINDEX

# comp WORD...: COMPREPLY for the command line WORD... (the last one being
# completed), sorted, one a line.
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_fsindex
	printf '%s\n' "${COMPREPLY[@]}" | sort
}
lines() { printf '%s\n' "$@" | sort; }

ok "complete -p fsindex names _fsindex" bash -c ". '$top_srcdir/contrib/completion/fsindex.bash' && complete -p fsindex | grep -q _fsindex"
is "$(comp fsindex '')" "$(lines --help --version dups find reload rescan scan status)" "fsindex <TAB>: the commands"
is "$(comp fsindex r)" "$(lines reload rescan)" "fsindex r<TAB>"
is "$(comp fsindex find --so)" "--sort=" "find --so<TAB>: --sort= (a value follows)"
is "$(comp fsindex find --sort = '')" "$(lines mtime path size)" "find --sort=<TAB> split at '='"
is "$(comp fsindex find --sort = s)" "size" "find --sort=s<TAB> split at '='"
is "$(comp fsindex find --sort=m)" "--sort=mtime" "find --sort=m<TAB> as one word"
is "$(comp fsindex find --type '')" "$(lines b c d f l p s)" "find --type <TAB>: the letters"
is "$(comp fsindex scan --io = u)" "uring" "scan --io=u<TAB>"
is "$(comp fsindex dups --keep = '')" "$(lines first newest oldest)" "dups --keep=<TAB>"
is "$(comp fsindex find -i --ty)" "--type" "an option after another: find -i --ty<TAB>"
is "$(comp fsindex find --size '')" "" "find --size <TAB>: nothing to offer"
is "$(comp fsindex find --user roo)" "root" "find --user roo<TAB>: user names"

# Every option of each command's --help, and nothing else.
for sub in scan rescan find dups status reload; do
	"$FSINDEX" "$sub" --help | sed -nE \
		-e 's/^  (-[a-zA-Z0-9]), (--[a-z][-a-z0-9]*)(=?).*/\1\n\2\3/p' \
		-e 's/^      (--[a-z][-a-z0-9]*)(=?).*/\1\2/p' | sort >"$T/help.$sub"
	comp fsindex "$sub" - >"$T/comp.$sub"
	ok "$sub -<TAB>: the options of its --help ($(wc -l <"$T/comp.$sub"))" \
		cmp "$T/comp.$sub" "$T/help.$sub"
done
ok "find -<TAB> offers the new filters" grep -qx -- --under "$T/comp.find"

mkdir -p "$T/cd/alpha" "$T/cd/beta" && : >"$T/cd/afile"
is "$(comp fsindex scan "$T/cd/a")" "$T/cd/alpha" "scan DIR<TAB>: directories only"
is "$(comp fsindex find --under "$T/cd/")" "$(lines "$T/cd/alpha" "$T/cd/beta")" "find --under <TAB>: directories"
is "$(comp fsindex find --newer "$T/cd/af")" "$T/cd/afile" "find --newer <TAB>: files"
is "$(comp fsindex find x)" "" "find PATTERN<TAB>: no file names for a pattern"

if command -v zsh >/dev/null 2>&1; then
	ok "the zsh completion parses (zsh -n)" zsh -n "$top_srcdir/contrib/completion/_fsindex"
else
	skip "no zsh" 1
fi

done_testing
