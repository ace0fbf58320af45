#!/bin/sh
# skills/<name>/SKILL.md, the guides the worker passes to external adapters
# as KTX_SKILLS_DIR: each has a frontmatter that parses (a YAML mapping of
# one-line plain scalars: name matching its directory, a description), a
# body, JSON examples that parse, and every ktx-supervisor command and
# option it shows exists in the program's --help.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
command -v jq >/dev/null || { echo "jq is required (scripts/deps installs it)" >&2; exit 99; }

SKILLS=$KTX_TOP_SRCDIR/skills
sup --help >"$T/help"
# The command names of --help: the lines after "commands:" up to a blank one.
commands=$(awk '/^commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }' "$T/help")

# frontmatter FILE: the lines between the first two "---" lines; fails
# unless the file starts with one and a second follows.
frontmatter() {
	awk 'NR == 1 { if ($0 != "---") exit 1; next }
	    $0 == "---" { done = 1; exit } { print }
	    END { exit !done }' "$1"
}

fm_block() { frontmatter "$1" >/dev/null; }

# fm_ok FILE: every frontmatter line is "key: value", the key known and
# not repeated, the value a one-line plain scalar YAML reads as a string.
fm_ok() {
	frontmatter "$1" | awk '
	{
		if (!match($0, /^[a-z][a-z_-]*: /)) { print "not \"key: value\": " $0; bad = 1; next }
		key = substr($0, 1, RLENGTH - 2); val = substr($0, RLENGTH + 1)
		if (key != "name" && key != "description" && key != "license") {
			print "unknown key: " key; bad = 1 }
		if (seen[key]++) { print "repeated key: " key; bad = 1 }
		if (val ~ /^[][{}"'"'"'|>&*!%@`#,?:-]/ || val ~ /: / || val ~ / #/ ||
		    val ~ /[ \t]$/ || val == "") {
			print "not a plain scalar: " key; bad = 1 }
	}
	END { exit bad }' >&2
}

# fm_value FILE KEY
fm_value() { frontmatter "$1" | sed -n "s/^$2: //p"; }

# shown_commands FILE: each ktx-supervisor command line of the file's fenced
# blocks ("$ " prompt and "# comment" dropped) and inline code spans.
shown_commands() {
	awk '
	/^ *```/ { fence = !fence; next }
	fence { line = $0; sub(/^ *\$ /, "", line); sub(/^ +/, "", line)
		if (line ~ /^ktx-supervisor /) { sub(/ +#.*/, "", line); print line }
		next }
	{ s = $0
	  while (match(s, /`ktx-supervisor [^`]*`/)) {
		print substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH) } }' "$1"
}

# commands_ok FILE: each shown command is in --help, each of its options in
# the command's --help (global ones in the main --help).
commands_ok() {
	local file="$1" line cmd word rest ok=0
	shown_commands "$file" >"$T/shown"
	[ -s "$T/shown" ] || return 0
	while IFS= read -r line; do
		set -f
		set -- $line
		set +f
		shift
		if [ "${1:-}" = -C ]; then shift 2; fi
		cmd=${1:-}
		case $cmd in
		-*)	grep -qE "^ +$cmd( |\$)" "$T/help" ||
			    { echo "$file: \"$line\": \"$cmd\" is not in --help" >&2; ok=1; }
			continue ;;
		esac
		if ! printf '%s\n' "$commands" | grep -qx "$cmd"; then
			echo "$file: \"$line\": no command \"$cmd\" in ktx-supervisor --help" >&2
			ok=1
			continue
		fi
		sup "$cmd" --help >"$T/cmdhelp" 2>&1
		shift
		for word in "$@"; do
			case $word in
			-*)	rest=${word%%=*}
				grep -qE "(^| |,)$rest([ ,]|\$)" "$T/cmdhelp" || {
					echo "$file: \"$line\": no option \"$rest\" in ktx-supervisor $cmd --help" >&2
					ok=1
				} ;;
			esac
		done
	done <"$T/shown"
	return $ok
}

# json_ok FILE: every ```json block parses (one value, or JSON lines).
json_ok() {
	local n=0 ok=0 f
	awk -v dir="$T" '
	/^ *```json *$/ { on = 1; n++; next }
	on && /^ *```/ { on = 0; next }
	on { sub(/^   /, ""); print > (dir "/json." n) }' "$1"
	for f in "$T"/json.*; do
		[ -e "$f" ] || continue
		jq -e . "$f" >/dev/null 2>&1 || { echo "$1: a json block does not parse:" >&2; cat "$f" >&2; ok=1; }
		rm -f "$f"
	done
	return $ok
}

nskills=0
for dir in "$SKILLS"/*/; do
	dir=${dir%/}
	name=${dir##*/}
	f=$dir/SKILL.md
	nskills=$((nskills + 1))
	check "$name: has SKILL.md" [ -f "$f" ]
	[ -f "$f" ] || continue
	check "$name: the frontmatter is a --- block" fm_block "$f"
	check "$name: the frontmatter parses" fm_ok "$f"
	check "$name: its name is its directory's" [ "$(fm_value "$f" name)" = "$name" ]
	check "$name: the name is [a-z0-9_-], at most 64 bytes" sh -c \
	    "printf '%s' '$name' | grep -Eqx '[a-z0-9][a-z0-9_-]{0,63}'"
	desc=$(fm_value "$f" description)
	check "$name: a description of 20 to 1024 bytes" \
	    [ "${#desc}" -ge 20 ] && [ "${#desc}" -le 1024 ]
	check "$name: a body with a # heading" grep -q '^# ' "$f"
	check "$name: every ktx-supervisor command shown is in --help" commands_ok "$f"
	check "$name: every json example parses" json_ok "$f"
done
check "the four guides are there" sh -c "
    for s in metabase_ingest dbt_ingest notion_ingest ktx-supervisor; do
        [ -f '$SKILLS'/\$s/SKILL.md ] || exit 1
    done"
check "metabase_ingest: missing schema context is a hard stop for overlays" \
    grep -qF 'Missing schema context is a hard stop for overlays' \
    "$SKILLS/metabase_ingest/SKILL.md"
check "ktx-supervisor: shows every command of --help" sh -c "
    for c in $(echo $commands); do
        grep -q \"ktx-supervisor .*\$c\" '$SKILLS/ktx-supervisor/SKILL.md' || { echo \"no \$c\" >&2; exit 1; }
    done"
finish
