#!/bin/sh
# contrib/: the bash completion in a real bash against the built
# ktx-supervisor (commands, options per command, option values, connection
# ids of the project the command line names), and the systemd units
# (systemd-analyze verify; KillMode and TimeoutStopSec against the grace).
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"

command -v bash >/dev/null || { echo "bash is required" >&2; exit 77; }
comp=$KTX_TOP_SRCDIR/contrib/bash-completion/ktx-supervisor
units=$KTX_TOP_SRCDIR/contrib/systemd

# complete WORD...: the completions of the last WORD after the others, as
# bash would offer them, sorted, on one line; run in the current directory.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
	    _ktx_supervisor
	    ((${#COMPREPLY[@]} == 0)) || printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" \
	    "$KTX_SUPERVISOR" "$@" 2>"$T/comp-err" | LC_ALL=C sort | tr '\n' ' '
}
# offers EXPECTED WORD...: completing gives EXPECTED ("a b c " form), no noise.
offers() {
	local want=$1 got
	shift
	got=$(complete_words "$@")
	[ "$got" = "$want" ] && [ ! -s "$T/comp-err" ] && return 0
	echo "completing '$*': expected '$want', got '$got'" >&2
	cat "$T/comp-err" >&2
	return 1
}

# in_dir DIR CMD...: run CMD in DIR.
in_dir() { (cd "$1" && shift && "$@"); }
# env_project DIR CMD...: run CMD in $T with KTX_PROJECT_DIR=DIR.
env_project() {
	(KTX_PROJECT_DIR=$1; export KTX_PROJECT_DIR; shift; cd "$T" && "$@")
}

P=$T/proj
mkdir -p "$P/sub/dir" "$T/broken"
cat >"$P/ktx.yaml" <<'EOF'
connections:
  warehouse:
    driver: sqlite
    path: w.db
  dbt_main:
    driver: dbt
    source_dir: dbt
  wiki-notes:
    driver: notion
    source_dir: notion
EOF
printf 'connections: [\n' >"$T/broken/ktx.yaml"

cmds=$(sup --help | sed -n '/^commands:/,/^$/s/^   \([a-z][a-z0-9_-]*\) .*/\1/p' |
    LC_ALL=C sort | tr '\n' ' ')
check "completion: the commands of --help" offers "$cmds" ""
check "completion: a command by its prefix" offers "ingest init " in
check "completion: global options" offers "--help --version -C " -
check "completion: -C takes a directory" in_dir "$P" offers "sub " -C s
check "completion: the connection ids of -C's project" \
    offers "dbt_main warehouse wiki-notes " -C "$P" ingest ""
check "completion: an id already given is not offered again" \
    offers "warehouse wiki-notes " -C "$P" ingest dbt_main ""
check "completion: ids by prefix" offers "warehouse wiki-notes " -C "$P" ingest w
check "completion: -C glued to its value" offers "dbt_main " "-C$P" ingest d
check "completion: the project of KTX_PROJECT_DIR" \
    env_project "$P" offers "dbt_main warehouse wiki-notes " ingest ""
check "completion: the project above the current directory" \
    in_dir "$P/sub/dir" offers "dbt_main warehouse wiki-notes " ingest ""
check "completion: a broken ktx.yaml offers no ids, says nothing" \
    offers "" -C "$T/broken" ingest ""
check "completion: ingest's long options" \
    offers "--all --dry-run --grace --help --jobs --json --plain --timeout " -C "$P" ingest --
check "completion: ingest's options, short and long" \
    offers "--all --dry-run --grace --help --jobs --json --plain --timeout -h -j " ingest --json -
check "completion: an option by its prefix" offers "--dry-run " ingest --d
check "completion: no value offered for -j" offers "" -C "$P" ingest -j ""
check "completion: no value offered for --grace" offers "" ingest --grace ""
check "completion: status options, not the global -C" offers "--help --json -h " status -
check "completion: no ids after status" offers "" -C "$P" status ""
# Every option of every command's --help is offered for that command.
for cmd in $cmds; do
	opts=$(sup "$cmd" --help | sed 's/^usage:.* '"$cmd"'\( \|$\)//' |
	    grep -oE '(^|[][ |(,])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[][ |(,]*//' |
	    LC_ALL=C sort -u | tr '\n' ' ')
	check "completion: every option of $cmd --help" offers "$opts" "$cmd" -
done

# The units: the service as make builds it, with this build's bindir.
mkdir -p "$T/units"
sed "s|@bindir@|$(dirname "$KTX_SUPERVISOR")|g" "$units/ktx-ingest@.service.in" \
    >"$T/units/ktx-ingest@.service"
cp "$units/ktx-ingest@.timer" "$T/units/"
service=$T/units/ktx-ingest@.service
check "unit: no @...@ left" sh -c "! grep -q '@[a-z]*@' '$service'"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no "$service" "$T/units/ktx-ingest@.timer" \
	    >"$T/verify" 2>&1
	rc=$?
	check "unit: systemd-analyze verify, no complaint" test "$rc" -eq 0 -a ! -s "$T/verify"
	cat "$T/verify" >&2
fi
# unit_value KEY: the value of KEY= in the service.
unit_value() { sed -n "s/^$1=//p" "$service"; }
check "unit: KillMode=mixed (SIGTERM to ktx-supervisor alone)" test "$(unit_value KillMode)" = mixed
grace=$(unit_value ExecStart | sed -n 's/.*--grace \([0-9]*\).*/\1/p')
stop=$(unit_value TimeoutStopSec)
check "unit: ExecStart gives --grace" test -n "$grace"
check "unit: TimeoutStopSec ($stop) is the grace ($grace) and 10 s more at least" \
    test "${stop:-0}" -ge $((${grace:-0} + 10))
check "unit: ExecStart ingests all" grep -q '^ExecStart=.* -C %f ingest --all ' "$service"
check "unit: the service's ExecStart runs" sh -c \
    "$(unit_value ExecStart | sed 's/ -C %f.*//') --version >/dev/null"
check "unit: the timer is wanted by timers.target" grep -qx 'WantedBy=timers.target' "$T/units/ktx-ingest@.timer"

finish
