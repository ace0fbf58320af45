#!/bin/bash
# The protocol under attack.  Workers: one row of tests/hostile/worker.tsv
# each, all in one run beside a real worker that lands a page; each row's
# target ends with its status and detail, the supervisor goes on serving.
# The control socket: a local process sending garbage, half frames, floods
# of connections; each gets its error or is dropped, the supervisor keeps
# answering and its descriptors come back to what they were.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_hostile.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"

TABLE=$KTX_TOP_SRCDIR/tests/hostile/worker.tsv
REAL_WORKER=$KTX_WORKER
PROBE=$(dirname "$KTX_SUPERVISOR")/tests/lockprobe
[ -x "$PROBE" ] || { echo "no lockprobe at $PROBE" >&2; exit 99; }

# The dispatcher: the real worker for "good" and "slow", else the row's shell.
mkdir -p "$T/rows"
cat >"$T/worker" <<EOF
#!/bin/bash
case \$1 in good | slow) exec "$REAL_WORKER" "\$@" ;; esac
ID=\$1
echo \$\$ >>"$T/pids"
hello() { printf '{"v":1,"type":"hello","target":"%s","pid":%d}\n' "\$ID" \$\$ >&3; }
assign() { IFS= read -r _ <&3; }
msg() { printf '%s\n' "\$1" >&3; }
result() {
	printf '{"v":1,"type":"result","status":"%s","detail":null,"exit_code":0,"signal":null,"commit":null,"trace":null,"worktree":null}\n' "\$1" >&3
}
. "$T/rows/\$1.sh"
EOF
chmod +x "$T/worker"
row_file() { printf '%s\n' "$2" >"$T/rows/$1.sh"; }
TABLE_PLAIN=1 table_rows "$TABLE" row_file

# conn_line ID ...: the row's connection in ktx.yaml.
conn_line() { printf '  %s:\n    driver: dbt\n    source_dir: nowhere\n' "$1"; }
mkktx proj
adapter good <<'EOS'
page good-page 'A page that lands.'
EOS
{
	echo "connections:"
	cmdconn good dbt good
	TABLE_PLAIN=1 table_rows "$TABLE" conn_line
} | config
base=$(head_of)

start=$(now)
KTX_WORKER=$T/worker sup -C "$P" ingest --all --json --timeout 8 --grace 1 -j 64 \
    >"$T/out" 2>"$T/err"
rc=$?
took=$(elapsed_since "$start")
check "workers: the run exits 1" [ "$rc" -eq 1 ]
check "workers: the run ends soon after the longest timeout ($took s)" fle "$took" 20
check "workers: the good target landed" result good '.status == "done" and .commit != null'
check "workers: main moved by the good target only" \
    [ "$(git -C "$P" diff --name-only "$base" HEAD)" = wiki/global/good-page.md ]
check "workers: stderr is terminal-safe" terminal_safe "$T/err"
none_alive() {
	local pid
	for pid in $(cat "$T/pids"); do
		! kill -0 "$pid" 2>/dev/null || { ps -o pid,args -p "$pid" >&2; return 1; }
	done
}
check "workers: every stand-in was started" [ "$(wc -l <"$T/pids")" -eq "$(grep -c '^[a-z]' "$TABLE")" ]
check "workers: no stand-in is left" none_alive

# The same stand-in on a terminal's table and progress lines.
KTX_WORKER=$T/worker sup -C "$P" ingest escape_text >"$T/tty.out" 2>"$T/tty.err"
check "workers: the table on stdout is terminal-safe" terminal_safe "$T/tty.out"
check "workers: the progress lines on stderr are terminal-safe" terminal_safe "$T/tty.err"
check "workers: the table shows the detail escaped" grep -qF 'bad \x1b[2J name' "$T/tty.out"
# And on a terminal, where the live view paints the phase and the message.
if command -v script >/dev/null; then
	TERM=xterm script -qfec "stty cols 200 rows 40; exec env KTX_WORKER='$T/worker' \
	    '$KTX_SUPERVISOR' -C '$P' ingest escape_text" "$T/live.tty" >/dev/null 2>&1 </dev/null
	live_safe() {	# the view's own sequences only: no OSC, no 2J, no C1
		! grep -qaF -e $'\033]0;' -e $'\033[2J' "$T/live.tty" &&
		    ! LC_ALL=C grep -qa $'\xc2[\x80-\x9f]' "$T/live.tty" ||
		    { od -c "$T/live.tty" | grep -n 'p   w   n\|302' >&2; return 1; }
	}
	check "workers: the live view on a terminal is terminal-safe" live_safe
	check "workers: the live view painted the stand-in's phase" grep -qa 'adapter?\[2J' "$T/live.tty"
fi

# row ID SHELL STATUS ERE: the row's target ended as it should.
row() {
	local id=$1 status=$3 ere=$4 detail
	result "$id" ".status == \"$status\"" || return 1
	detail=$(rfield "$id" detail | tr '\n' ' ')
	[ "$detail" != "null " ] || detail=
	detail=${detail% }
	[[ $detail =~ $ere ]] ||
	    { echo "detail does not match: $ere" >&2; printf '%s\n' "$detail" >&2; return 1; }
}
table_rows "$TABLE" row

# --- The control socket. ---
# A slow real target keeps the supervisor up while local processes attack.
mkktx ctl
mkfifo "$T/go"
adapter slow <<EOS
wait_fifo "$T/go"
page slow-page 'Late but whole.'
EOS
{ echo "connections:"; cmdconn slow dbt slow; } | config
KTX_WORKER=$T/worker sup_bg -C "$P" ingest --json
S=$P/.ktx/run/supervisor.sock
wait_until 5 test -S "$S"
nfds() { ls "/proc/$SUP/fd" | wc -l; }
send() { timeout 10 "$PROBE" --send "$S" "$@"; }
# reply_has ERE: the last reply matches.
reply_has() {
	grep -Eq -- "$1" "$T/reply" || { echo "reply:" >&2; cat "$T/reply" >&2; return 1; }
}
still_serving() { sup -C "$P" status --json >"$T/st" 2>&1 && jq -e '.status' "$T/st" >/dev/null; }

send 'garbage' >"$T/reply"
check "control: garbage gets an error" reply_has '"code":"bad-message".*"frame is not JSON"'
send --bytes=70000 >"$T/reply"
check "control: an over-size frame gets an error" reply_has 'frame longer than 65536 bytes'
send "$(printf '\377\376')" >"$T/reply"
check "control: bytes that are not JSON get an error" reply_has '"code":"bad-message"'
send '{"v":1,"type":"hello","target":"slow","pid":1}' >"$T/reply"
check "control: a worker's message is refused" reply_has 'is not a control request'
send '{"v":1,"type":"acquire","lock":"config:repo","purpose":"x","id":1}' >"$T/reply"
check "control: a lock request is refused" reply_has '"code":"unexpected"'
send --bytes=100 --hangup >"$T/reply"
check "control: a half frame, then hang-up: no reply" [ ! -s "$T/reply" ]
check "control: the supervisor still serves" still_serving

# The descriptors before the flood (none may be left by it; a worker's
# pipe or a client of the checks above may still close, so at most these).
fds_before=$(nfds)
# A flood: 200 clients at once, each a half frame and a hang-up, then 40
# that connect and sit.
for i in $(seq 200); do send --bytes=10 --hangup >/dev/null 2>&1 & done
for j in $(jobs -p); do [ "$j" = "$SUP" ] || wait "$j"; done
check "control: after 200 half frames it still serves" still_serving
for i in $(seq 40); do
	timeout 3 "$PROBE" --send "$S" >"$T/sit.$i" 2>&1 &
done
sleep 0.5
check "control: with 40 idle clients a request is still answered" still_serving
sitter_told() {	# the oldest sitters were told why they were closed
	local f
	for f in "$T"/sit.*; do
		grep -q '"code":"busy".*the oldest is closed' "$f" && return 0
	done
	return 1
}
check "control: the oldest idle clients were closed with busy" sitter_told
for j in $(jobs -p); do [ "$j" = "$SUP" ] || wait "$j"; done
check "control: once they left it serves again" still_serving
fds_after=$(nfds)
check "control: descriptors back to at most $fds_before (now $fds_after)" [ "$fds_after" -le "$fds_before" ]
post "$T/go"
wait "$SUP"
rc=$?
check "control: the run ended well (exit $rc)" [ "$rc" -eq 0 ]
check "control: the slow target landed" jq_ok '.results[0].status == "done" and .results[0].commit != null' "$T/bg.out"
check "control: the supervisor logged its stderr terminal-safe" terminal_safe "$T/bg.err"

finish
