#!/bin/sh
# The live view of ingest: under a pseudo-terminal (script(1)) the view is
# repainted in place with plain ANSI, a line per target, clipped to the
# terminal's width (also after SIGWINCH), shows the paused state after
# SIGTSTP, and is replaced by the final table; piped, --plain and --json
# output carry no escape sequence.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"

command -v script >/dev/null || { echo "script(1) is required (bsdutils)" >&2; exit 77; }

ESC=$(printf '\033')
# tty_run OUT CMD: CMD on a 60x20 pseudo-terminal, everything it wrote
# there in OUT; in the background, $TTY its pid.
tty_run() {
	TERM=xterm script -qfec "stty cols 60 rows 20; exec $2" "$1" >/dev/null 2>&1 </dev/null &
	TTY=$!
}
# has OUT TEXT: the captured stream holds TEXT (fixed string).
has() { grep -qF -- "$2" "$1"; }
# painted OUT: the lines of the view painted in OUT, escapes and CRs gone.
painted() { tr '\r' '\n' <"$1" | sed -n "s/^.*$ESC\[2K//p"; }
# widest OUT: the most columns a painted line takes ("·" is one).
widest() { painted "$1" | sed 's/·/./g' | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }'; }

mkktx live
adapter slow <<EOF
i=0
for p in 25 50; do printf '{"percent": %d, "message": "step"}\n' \$p; done
touch "$T/\$KTX_CONNECTION_ID.half"
wait_fifo "$T/\$KTX_CONNECTION_ID.fifo"
printf '{"percent": 100, "message": "step"}\n'
page "\$KTX_CONNECTION_ID-page" 'From the adapter.'
EOF
config <<EOF
connections:
$(cmdconn a_first dbt slow)
$(cmdconn b_second notion slow)
EOF
mkfifo "$T/a_first.fifo" "$T/b_second.fifo"

tty_run "$T/tty" "'$KTX_SUPERVISOR' -C '$P' ingest"
wait_until 20 test -e "$T/a_first.half"
check "tty: the view shows a's progress bar" \
    wait_until 10 has "$T/tty" "[1/2] a_first  running"
check "tty: 50% with its bar" wait_until 10 sh -c "
    tr '\r' '\n' <'$T/tty' | grep -q '\[1/2\] a_first  running .* adapter *\[#####-----\]  50%\$'"
check "tty: b waits in the queue" has "$T/tty" "[2/2] b_second queued"
check "tty: the lock and the hint" sh -c "
    grep -qF 'lock config:repo: free; queue: empty' '$T/tty' &&
    grep -qF 'Ctrl-C abort · Ctrl-Z pause · SIGHUP drain' '$T/tty'"
check "tty: painted in place (cursor up, erase line)" sh -c "
    grep -qF '$ESC[2K' '$T/tty' && grep -q '$ESC\[[0-9][0-9]*A' '$T/tty'"
check "tty: no line wider than 59 columns" [ "$(widest "$T/tty")" -le 59 ]
sp=$(cat "$P/.ktx/run/supervisor.pid")

# SIGWINCH: a narrower terminal; the view is taken off (erase below) and
# painted again at the new width.
pts=$(readlink "/proc/$sp/fd/1")
size=$(wc -c <"$T/tty")
stty -F "$pts" cols 40 rows 20
# after_erase OUT: what OUT holds after its last "erase below".
after_erase() { awk -v e="$ESC" '{ i = index($0, e "[J"); if (i) { buf = substr($0, i + 3) "\n"; found = 1 } else if (found) buf = buf $0 "\n" } END { printf "%s", buf }' "$1" | tr -d '\r'; }
resized() {
	tail -c +"$((size + 1))" "$T/tty" >"$T/tty.new"
	grep -qF "$ESC[J" "$T/tty.new" && after_erase "$T/tty.new" >"$T/tty.after" &&
	    grep -q 'a_first' "$T/tty.after"
}
check "winch: repainted after the resize" wait_until 10 resized
check "winch: no line wider than 39 columns since" [ "$(widest "$T/tty.after")" -le 39 ]
stty -F "$pts" cols 60 rows 20

# SIGTSTP: the paused state is painted before the supervisor stops.
# script(1) stops itself when its child stops, and continues it when
# continued itself, as a shell would.
kill -TSTP "$sp"
stopped() { [ "$(proc_state "$sp")" = T ]; }
check "tstp: the supervisor stops itself" wait_until 10 stopped
kill -CONT "$TTY" "$sp"
thawed() { has "$T/tty" "thawed: 1 workers continue"; }
check "tstp: thawed by SIGCONT" wait_until 10 thawed
check "tstp: the view said paused before the thaw" sh -c "
    tr '\r' '\n' <'$T/tty' | sed '/thawed: 1 workers continue/q' >'$T/paused' &&
    grep -q '^.*\[2K1 running, 1 queued, 0 finished · paused · run ' '$T/paused' &&
    grep -qF 'paused: fg, SIGCONT or \"ktx-supervisor resume\" continues' '$T/paused' &&
    grep -q '\[1/2\] a_first  stopped' '$T/paused'"
check "tstp: the frozen log line came between, the view kept above it" sh -c "
    grep -qF 'ktx-supervisor: frozen: 1 workers stopped; SIGCONT thaws' '$T/paused'"
post "$T/a_first.fifo"
wait_until 20 test -e "$T/b_second.half"
# b waits on its fifo until the view has painted a done: unheld, the run
# could end before the next paint is due.
painted_done() { tr '\r' '\n' <"$T/tty" | grep -q '\[1/2\] a_first  done'; }
wait_until 10 painted_done
post "$T/b_second.fifo"
wait "$TTY"
check "end: script and ingest exit 0" [ $? -eq 0 ]
check "end: the view after the thaw has a done" sh -c "
    tr '\r' '\n' <'$T/tty' | grep -q '\[1/2\] a_first  done'"
# The last erase of the view, then the table and nothing else painted.
after_erase "$T/tty" >"$T/table"
check "end: the view is replaced by the final table" sh -c "
    head -n 1 '$T/table' | grep -qx 'Ingest finished' &&
    grep -q '^Connection  Stage  Driver  Status' '$T/table' &&
    grep -q '^a_first  *2  *dbt  *done ' '$T/table' &&
    grep -q '^b_second  *2  *notion  *done ' '$T/table'"
check "end: no escape sequence after the view" sh -c "! grep -qF '$ESC' '$T/table'"
# At most ~10 paints a second: each paint starts with the header line.
paints=$(tr '\r' '\n' <"$T/tty" | grep -c "$ESC\[2K[0-9]* running, ")
secs=$(jq -s '[.[] | select(.event == "ingest_started" or .event == "ingest_finished") | .at |
    sub("\\.[0-9]*Z$"; "Z") | fromdate] | max - min + 1' "$P"/.ktx/ingest-traces/*/trace.jsonl)
echo "live view: $paints paints in about $secs s"
check "rate: at most 10 paints a second (and a few around the stop)" \
    [ "$paints" -le $((secs * 10 + 5)) ]
check "end: both landed" sh -c "
    [ \"\$(git -C '$P' log --format=%s | grep -c '^ingest(')\" -eq 2 ]"

# Piped output stays line-based, without escapes; so do --plain and --json.
nowait() { sed -i "s/^wait_fifo .*/:/" "$T/slow.sh"; }
nowait
sup -C "$P" ingest >"$T/piped" 2>&1
check "piped: exit 0" [ $? -eq 0 ]
check "piped: progress lines and the table, no escapes" sh -c "
    grep -q '^\[1/2\] a_first · adapter\$' '$T/piped' &&
    grep -q '^  \[50%\] step\$' '$T/piped' &&
    grep -q '^Connection  Stage' '$T/piped' && ! grep -qF '$ESC' '$T/piped'"
tty_run "$T/plain" "'$KTX_SUPERVISOR' -C '$P' ingest --plain"
wait "$TTY"
check "--plain on a tty: exit 0, lines, no escapes" sh -c "
    [ $? -eq 0 ] && grep -q '^\[1/2\] a_first · adapter' '$T/plain' &&
    grep -q '^Connection  Stage' '$T/plain' && ! grep -qF '$ESC' '$T/plain'"
tty_run "$T/json" "'$KTX_SUPERVISOR' -C '$P' ingest --json"
wait "$TTY"
check "--json on a tty: one document, no escapes" sh -c "
    ! grep -qF '$ESC' '$T/json' && tr -d '\r' <'$T/json' | grep -v '^Script \(started\|done\) on ' |
    jq -e '.results | length == 2' >/dev/null"
# A background job (its own process group, not the terminal's) paints
# nothing: the table alone.
TERM=xterm script -qfec "stty cols 60 rows 20; set -m; '$KTX_SUPERVISOR' -C '$P' ingest & wait \$!" \
    "$T/bg" >/dev/null 2>&1 </dev/null
check "background: exit 0, the table, no escapes" sh -c "
    [ $? -eq 0 ] && grep -q '^Connection  Stage' '$T/bg' && ! grep -qF '$ESC' '$T/bg'"
# What an adapter says reaches the view escaped: its stderr, the detail of
# the failure, carries an escape sequence and a C1 CSI.
adapter evil <<'EOF'
printf 'bad \033[31mred\302\2332J\n' >&2
exit 3
EOF
adapter pause <<'EOF'
sleep 1.5
EOF
mkktx evil
config <<EOF
connections:
$(cmdconn e_evil notion evil)
$(cmdconn z_after notion pause)
EOF
tty_run "$T/evil.tty" "'$KTX_SUPERVISOR' -C '$P' ingest"
wait "$TTY"
painted "$T/evil.tty" >"$T/evil.lines"
check "escaped: the failed target's detail painted with '?' for the controls" sh -c "
    grep -qF '[1/2] e_evil  failed' '$T/evil.lines' &&
    grep -qF 'bad ?[31mred?2J' '$T/evil.lines' && ! grep -qF '$ESC[31m' '$T/evil.lines'"
check "--help names --plain" sh -c "'$KTX_SUPERVISOR' ingest --help | grep -q -- '--plain '"

finish
