#!/bin/sh
# The manual pages against the program: every page lints clean with
# mandoc, every option that ktx-supervisor --help and each command's --help
# print is in ktx-supervisor(8) with Fl (in that command's SYNOPSIS entry
# or item, or among the global options), every option the page gives a
# command is one its --help prints, and the page's commands are the ones
# --help lists.  Driven by the --help output, so an option added later is
# checked without touching this script.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"

command -v mandoc >/dev/null || { echo "mandoc is required (scripts/deps installs it)" >&2; exit 99; }

man="$KTX_TOP_SRCDIR/man"
page="$man/ktx-supervisor.8"

# The options a --help text names: words starting with - or -- that follow
# a blank, "[", "|", "(" or "," (so "ktx-supervisor" is no option).
help_options() {
	grep -oE '(^|[][ |(,])--?[A-Za-z][A-Za-z0-9-]*' "$1" |
	    sed 's/^[][ |(,]*//' | sort -u
}

for p in "$man"/*.[1-9]; do
	check "mandoc -T lint $(basename "$p")" mandoc -T lint -W warning "$p"
done

sup --help >"$T/help" 2>"$T/err"
check "ktx-supervisor --help succeeds quietly" test $? -eq 0 -a ! -s "$T/err"
# The command list: the first word of each line under "commands:".
sed -n '/^commands:/,/^$/{/^   [a-z]/s/^ *\([a-z][a-z0-9_-]*\).*/\1/p}' "$T/help" |
    sort -u >"$T/commands"
check "--help lists commands" test -s "$T/commands"

awk -v commands="$(tr '\n' ' ' <"$T/commands")" \
    -f "$KTX_TOP_SRCDIR/tests/manpage_options.awk" "$page" >"$T/page"
sed -n 's/^cmd //p' "$T/page" | sort -u >"$T/page-commands"
sed -n 's/^opt - //p' "$T/page" | sort -u >"$T/global"

# documented CMD OPT: the page gives OPT to CMD or to every command.
documented() {
	grep -qxF -- "opt $1 $2" "$T/page" || grep -qxF -- "$2" "$T/global"
}

# Every option of ktx-supervisor --help is a global one in the page.
help_options "$T/help" >"$T/help-options"
check "--help names options" test -s "$T/help-options"
while read -r opt; do
	check "ktx-supervisor(8) documents global $opt" grep -qxF -- "$opt" "$T/global"
done <"$T/help-options"

# Every command of --help has its item, its --help, and its options in the page.
cat "$T/help-options" >"$T/all-help-options"
while read -r cmd; do
	check "ktx-supervisor(8) has an item for $cmd" grep -qxF -- "$cmd" "$T/page-commands"
	sup "$cmd" --help >"$T/help-$cmd" 2>"$T/err"
	check "$cmd --help succeeds quietly" test $? -eq 0 -a ! -s "$T/err"
	check "$cmd --help gives its usage" grep -q "^usage: ktx-supervisor .* $cmd" "$T/help-$cmd"
	help_options "$T/help-$cmd" >"$T/opts-$cmd"
	cat "$T/opts-$cmd" >>"$T/all-help-options"
	while read -r opt; do
		check "ktx-supervisor(8) documents $cmd $opt" documented "$cmd" "$opt"
	done <"$T/opts-$cmd"
done <"$T/commands"

# The reverse: the page's commands are in --help, and what it gives a
# command is in that command's --help, or a global option of some --help.
while read -r cmd; do
	check "--help lists the page's command $cmd" grep -qxF -- "$cmd" "$T/commands"
	sed -n "s/^opt $cmd //p" "$T/page" | sort -u >"$T/page-$cmd"
	while read -r opt; do
		check "$cmd --help names the page's $opt" grep -qxF -- "$opt" "$T/opts-$cmd"
	done <"$T/page-$cmd"
done <"$T/page-commands"
while read -r opt; do
	check "some --help names the page's global $opt" grep -qxF -- "$opt" "$T/all-help-options"
done <"$T/global"

# ktx.yaml(5) names every key config.c reads or accepts and every driver;
# ktx-supervisor-protocol(7) every message type and member proto.c knows.
# whole_word PAGE WORD: WORD stands in PAGE's source as a word.
whole_word() {
	grep -qE "(^|[^A-Za-z0-9_])$2([^A-Za-z0-9_]|\$)" "$1"
}
config=$KTX_TOP_SRCDIR/src/common/config.c
{
	sed -n '/^static const char \*const [a-z_]*\(fields\|remote\|blocks\|mappings\)\[\]/,/};/p' "$config" |
	    grep -oE '"[A-Za-z_]+"'
	grep -oE 'text_is\(k, "[A-Za-z_]+"\)' "$config" | grep -oE '"[A-Za-z_]+"'
	grep -oE '^	\{ "[a-z_]+", DRIVER_' "$config" | grep -oE '"[a-z_]+"'
} | tr -d '"' | sort -u >"$T/config-keys"
check "config.c yields keys" test "$(wc -l <"$T/config-keys")" -gt 40
while read -r key; do
	check "ktx.yaml(5) names $key" whole_word "$man/ktx.yaml.5" "$key"
done <"$T/config-keys"
proto=$KTX_TOP_SRCDIR/src/common/proto.c
{
	grep -oE '^	[A-Z_]+\("[a-z_]+"' "$proto" | grep -oE '"[a-z_]+"'
	grep -oE '\{ "[a-z]+", [a-z_]+_fields \}' "$proto" | grep -oE '"[a-z]+"'
} | tr -d '"' | sort -u >"$T/proto-words"
grep -E '(^|[ .])Li ' "$man/ktx-supervisor-protocol.7" >"$T/proto-li"	# literals
check "proto.c yields members" test "$(wc -l <"$T/proto-words")" -gt 40
while read -r word; do
	check "ktx-supervisor-protocol(7) names $word" whole_word "$T/proto-li" "$word"
done <"$T/proto-words"

# The other pages name what the program's help and the page point to.
for p in ktx.yaml.5 ktx-worker.8 ktx-supervisor-protocol.7; do
	name=${p%.*}
	sec=${p##*.}
	check "ktx-supervisor(8) refers to $name($sec)" grep -q "^\.Xr $name $sec" "$page"
done

finish
