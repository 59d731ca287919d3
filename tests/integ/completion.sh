#!/bin/bash
# SPDX-License-Identifier: MIT
#
# completion.sh - the bash completion (contrib/completion/fsindex.bash),
# sourced into this shell and called as readline would: COMP_WORDS and
# COMP_CWORD set, _fsindex run, COMPREPLY checked.  Subcommands, each
# command's options against its own --help, the values of --type, --sort,
# --io and --keep (split at '=' as readline does, and whole), directories
# for scan and --under.  With zsh installed, the zsh one is driven the same
# way through zsh's pseudo-terminal module.

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

# zsh: an interactive zsh on a pseudo-terminal (zpty) with the completion on
# its fpath; each line is typed with a TAB, then ^X runs a widget that
# appends the edited line to a file: what the completion made of it.
cat >"$T/zc.zsh" <<'ZSH'
zmodload zsh/zpty || exit 77
dir=$1 out=$2
shift 2
: >$out
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($dir \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "dump() { print -r -- \"\$BUFFER\" >>$out; BUFFER=; }; zle -N dump; bindkey '^X' dump"
n=0
for line in "$@"; do
	zpty -w -n z "$line"$'\t\x18'
	n=$((n + 1))
	# Until the widget has run (at most 30 s), draining the terminal.
	for i in {1..300}; do
		[[ $(wc -l <$out) -ge $n ]] && break
		zpty -r -t z junk
		sleep 0.1
	done
done
zpty -d z
ZSH
if command -v zsh >/dev/null 2>&1; then
	ok "the zsh completion parses (zsh -n)" zsh -n "$top_srcdir/contrib/completion/_fsindex"
	mkdir -p "$T/zfunc" "$T/zbin" && cp "$top_srcdir/contrib/completion/_fsindex" "$T/zfunc/" &&
		ln -s "$FSINDEX" "$T/zbin/fsindex"
	cases=('fsindex sc' 'fsindex find --sort=mt' 'fsindex dups --keep=ne' 'fsindex scan --io=ur'
		'fsindex find --cou' 'fsindex find -i --na' 'fsindex find foo --rev' 'fsindex find --und'
		"fsindex find --under $T/cd/al" 'fsindex st')
	PATH=$T/zbin:$PATH timeout -k 5 120 zsh -f "$T/zc.zsh" "$T/zfunc" "$T/zc.out" "${cases[@]}"
	printf '%s\n' 'fsindex scan ' 'fsindex find --sort=mtime ' 'fsindex dups --keep=newest ' \
		'fsindex scan --io=uring ' 'fsindex find --count ' 'fsindex find -i --name ' \
		'fsindex find foo --reverse ' 'fsindex find --under=' "fsindex find --under $T/cd/alpha/" \
		'fsindex status ' >"$T/zc.exp"
	ok "zsh: commands, options, --sort/--keep/--io values, directories" diff "$T/zc.exp" "$T/zc.out"
else
	skip "no zsh" 2
fi

done_testing
