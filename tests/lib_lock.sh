# Helpers for the lock and control end-to-end scripts, sourced after lib.sh
# and lib_engine.sh.  Workers are tests/lockprobe, built next to the
# supervisor; each connection's adapter command is the probe's program.

KTX_WORKER=$(dirname "$KTX_SUPERVISOR")/tests/lockprobe
export KTX_WORKER
[ -x "$KTX_WORKER" ] || { echo "no lockprobe at $KTX_WORKER" >&2; exit 99; }

# probe ID STEP...: one connection of ktx.yaml run by lockprobe.
probe() {
	local id="$1" args="" a
	shift
	for a in "$@"; do args="$args${args:+, }\"$a\""; done
	printf '  %s:\n    driver: dbt\n    adapter: {command: [%s]}\n' "$id" "$args"
}

# count LOG EVENT: how many EVENT lines LOG holds (0 without LOG).
count() { awk -v e="$2" '$1 == e { n++ } END { print n + 0 }' "$1" 2>/dev/null || echo 0; }

# order LOG EVENT: the targets of the EVENT lines, in file order.
order() { awk -v e="$2" '$1 == e { printf "%s%s", sep, $2; sep = " " }' "$1"; }

# no_interleaving LOG: after an enter, the same target leaves (or dies)
# before anyone enters again.
no_interleaving() {
	awk '$1 == "enter" { if (holder != "") bad = 1; holder = $2 }
	    $1 == "leave" || $1 == "die" { if ($2 != holder) bad = 1; holder = "" }
	    END { exit bad }' "$1"
}
