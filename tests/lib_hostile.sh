# Helpers for the hostile-input scripts (e2e_hostile_*.sh), sourced after
# lib.sh.  Their cases are rows of the tables under tests/hostile/
# (docs/security.md says how to add one).

command -v jq >/dev/null || { echo "jq is required (scripts/deps installs it)" >&2; exit 99; }

# table_rows FILE FN: FN COLUMN... for each row of the tab-separated FILE
# (blank lines and lines starting with "#" skipped; empty columns kept),
# each one counted check named after the file, the line and its columns.
# With TABLE_PLAIN=1, FN runs for each row without being counted.
table_rows() {
	local file=$1 fn=$2 line n=0 name
	local -a cols
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		case $line in '' | '#'*) continue ;; esac
		# A separator that is not white space keeps empty columns.
		IFS=$'\x1f' read -r -a cols <<<"${line//$'\t'/$'\x1f'}"$'\x1f'END
		unset 'cols[${#cols[@]}-1]'
		if [ "${TABLE_PLAIN:-0}" = 1 ]; then
			"$fn" "${cols[@]}"
			continue
		fi
		name="${file##*/}:$n: $(printf '%s' "$line" | tr '\t' ' ' | cut -c1-72)"
		check "$name" "$fn" "${cols[@]}"
	done <"$file"
}

# terminal_safe FILE: FILE is UTF-8 without control characters other than
# newline and tab (C0, DEL, C1): nothing in it can steer a terminal.
terminal_safe() {
	iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1 ||
	    { echo "not UTF-8: $1" >&2; od -c "$1" | head >&2; return 1; }
	! tr -d '\n\t' <"$1" | LC_ALL=C grep -q $'[[:cntrl:]]\\|\xc2[\x80-\x9f]' ||
	    { echo "control characters in $1" >&2; od -c "$1" | head >&2; return 1; }
}
