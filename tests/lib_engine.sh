# Helpers for the engine's end-to-end scripts (e2e_engine_*.sh), sourced
# after lib.sh.  Adapters are the shell script written by engine_setup; each
# appends lines to a log:
#   start ID EPOCH.NANOS PID PGID WORKERPID
#   end ID EPOCH.NANOS
# and connections run it as: adapter: {command: [sh, ADAPTER, LOG, MODE, ...]}

ADAPTER=$T/adapter.sh
cat >"$ADAPTER" <<'EOF'
log=$1; mode=$2; shift 2
now() { date +%s.%N; }
pgid=$(awk '{ print $5 }' /proc/$$/stat)
echo "start $KTX_CONNECTION_ID $(now) $$ $pgid $PPID" >>"$log"
code=0
case $mode in
sleep)		# SECS [EXIT]
	sleep "$1"; code=${2:-0} ;;
fail)		# EXIT: a few lines on stderr
	echo "warming up" >&2
	echo "error: $KTX_CONNECTION_ID cannot reach its input" >&2
	code=$1 ;;
count)		# FILE N: write 1..N to FILE, one every 0.1 s
	i=0
	while [ "$i" -lt "$2" ]; do
		i=$((i + 1)); echo "$i" >"$1"; sleep 0.1
	done ;;
ignore-term)	# run until killed; SIGTERM is ignored (sleep inherits that)
	trap '' TERM
	while :; do sleep 0.1; done ;;
env)		# FILE: what the adapter sees
	{ pwd; env | grep '^KTX_' | sort; } >"$1" ;;
esac
echo "end $KTX_CONNECTION_ID $(now)" >>"$log"
exit "$code"
EOF

# mkproject NAME: an empty git repository $T/NAME for a ktx.yaml; sets P.
mkproject() {
	P=$T/$1
	mkdir -p "$P"
	git init -q "$P"
}

# conn ID DRIVER LOG MODE ARG...: one connection of ktx.yaml, with
# adapter.timeout when CONN_TIMEOUT is set.
conn() {
	local id="$1" driver="$2" log="$3" args="" a
	shift 3
	for a in "$@"; do args="$args, \"$a\""; done
	printf '  %s:\n    driver: %s\n' "$id" "$driver"
	[ "$driver" = sqlite ] && printf '    path: %s.db\n' "$id"
	printf '    adapter: {command: [sh, "%s", "%s"%s]%s}\n' "$ADAPTER" "$log" \
	    "$args" "${CONN_TIMEOUT:+, timeout: $CONN_TIMEOUT}"
}

# field LOG EVENT ID N: field N of the first EVENT line for ID.
field() { awk -v e="$2" -v id="$3" -v n="$4" '$1 == e && $2 == id { print $n; exit }' "$1"; }

# max_overlap LOG [ID-PREFIX]: most adapters running at once.
max_overlap() {
	awk -v p="${2:-}" 'index($2, p) == 1 { print $3, ($1 == "start" ? 1 : -1) }' "$1" |
	    sort -k1,1n -k2,2n | awk '{ n += $2; if (n > m) m = n } END { print m + 0 }'
}

# fle A B: A <= B for decimal numbers.
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# between A X B: A <= X <= B.
between() { fle "$1" "$2" && fle "$2" "$3"; }

now() { date +%s.%N; }
elapsed_since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }'; }

# wait_until SECS COMMAND...: poll COMMAND every 0.05 s.
wait_until() {
	local end
	end=$(awk -v s="$(now)" -v t="$1" 'BEGIN { printf "%.3f", s + t }')
	shift
	until "$@"; do
		fle "$end" "$(now)" && return 1
		sleep 0.05
	done
}

# lines LOG EVENT: how many EVENT lines LOG holds.
lines() { [ -f "$1" ] && grep -c "^$2 " "$1" || echo 0; }
# log_has LOG EVENT N: LOG holds at least N EVENT lines.
log_has() { [ "$(lines "$1" "$2")" -ge "$3" ]; }

# proc_state PID: the state letter of /proc/PID/stat, empty when gone.
proc_state() { awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null; }

# groups_of LOG: the process groups of every worker and adapter in LOG.
groups_of() { awk '$1 == "start" { print $5; print $6 }' "$1" | sort -u; }

# survivors LOG: live (not zombie) processes in those groups.
survivors() {
	local g
	for g in $(groups_of "$1"); do
		ps -eo pid=,pgid=,stat=,args= |
		    awk -v g="$g" '$2 == g && $3 !~ /^Z/ { print }'
	done
}

# no_survivors LOG: none of those processes is left.
no_survivors() {
	local left
	left=$(survivors "$1")
	[ -z "$left" ] || { echo "left: $left" >&2; return 1; }
}

# sup_bg ARGS...: the supervisor in the background, SIGINT not ignored
# (a script's background jobs ignore it otherwise), output in $T/bg.out
# and $T/bg.err; sets SUP.  Collect it with: wait "$SUP"; rc=$?
sup_bg() {
	env --default-signal=INT "$KTX_SUPERVISOR" "$@" >"$T/bg.out" 2>"$T/bg.err" &
	SUP=$!
}

# jq_ok FILTER FILE: the filter is true on FILE; shows FILE when not.
jq_ok() {
	jq -e "$1" "$2" >/dev/null || { echo "not true: $1" >&2; cat "$2" >&2; return 1; }
}
