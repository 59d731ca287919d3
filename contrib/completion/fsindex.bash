# SPDX-License-Identifier: MIT
# bash completion for fsindex(1): subcommands, their options, and the values
# of the options that take a fixed set (--type, --sort, --io, --keep) or a
# kind of name (directories, files, users, groups).
#
# The options themselves come from `fsindex COMMAND --help`, parsed once per
# command and shell, so the completion offers exactly what the installed
# binary takes.

# The options of `fsindex $1 --help`, one a line; those written "--opt=ARG"
# end in '=' (their value follows without a space).
_fsindex_options()
{
	local cache=_fsindex_opts_${1//[^a-z]/_}
	if [[ -z ${!cache} ]]; then
		printf -v "$cache" '%s' "$("${_fsindex_cmd:-fsindex}" "$1" --help 2>/dev/null | sed -nE \
			-e 's/^  (-[a-zA-Z0-9]), (--[a-z][-a-z0-9]*)(=?).*/\1\n\2\3/p' \
			-e 's/^      (--[a-z][-a-z0-9]*)(=?).*/\1\2/p')"
	fi
	printf '%s\n' "${!cache}"
}

# Complete the value @2 of option @1; returns 1 if @1 takes no known kind of value.
_fsindex_value()
{
	local opt=$1 cur=$2
	case $opt in
	--type) COMPREPLY=($(compgen -W "f d l p s c b" -- "$cur")) ;;
	--sort) COMPREPLY=($(compgen -W "path size mtime" -- "$cur")) ;;
	--io) COMPREPLY=($(compgen -W "auto uring sync" -- "$cur")) ;;
	--keep) COMPREPLY=($(compgen -W "first oldest newest" -- "$cur")) ;;
	--db | --under) COMPREPLY=($(compgen -d -- "$cur")) ;;
	--newer | --older) COMPREPLY=($(compgen -f -- "$cur")) ;;
	--user) COMPREPLY=($(compgen -u -- "$cur")) ;;
	--group) COMPREPLY=($(compgen -g -- "$cur")) ;;
	# Values nothing can guess: offer nothing rather than file names.
	--size | --limit | -n | --jobs | -j | --min-size | --sync-timeout | --exclude | \
		--printf | --hash | --regexp | -r) COMPREPLY=() ;;
	*) return 1 ;;
	esac
	return 0
}

_fsindex()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev= sub= i
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) sub=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ -z $sub ]]; then
		COMPREPLY=($(compgen -W "scan rescan find dups status reload --help --version" -- "$cur"))
		return 0
	fi

	# "--sort=pa": readline splits at '=' (COMP_WORDBREAKS), or hands it whole.
	if [[ $cur == = ]]; then
		_fsindex_value "$prev" "" && return 0
	elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
		_fsindex_value "${COMP_WORDS[COMP_CWORD - 2]}" "$cur" && return 0
	elif [[ $cur == --*=* ]]; then
		_fsindex_value "${cur%%=*}" "${cur#*=}" &&
			COMPREPLY=("${COMPREPLY[@]/#/${cur%%=*}=}") && return 0
	elif _fsindex_value "$prev" "$cur"; then
		return 0
	fi

	case $cur in
	-*)
		COMPREPLY=($(compgen -W "$(_fsindex_options "$sub")" -- "$cur"))
		[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
		;;
	*)
		case $sub in
		scan | rescan | dups) COMPREPLY=($(compgen -d -- "$cur")) ;;
		esac
		;;
	esac
	return 0
}

complete -F _fsindex fsindex
