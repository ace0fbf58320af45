#!/bin/sh
# make installcheck: what make install put under the prefix, and the demo
# ingested by the installed ktx-supervisor, which must find the installed
# worker itself (no KTX_WORKER).  The directories come from make.
KTX_SUPERVISOR=${KTX_BINDIR:?run through make installcheck}/ktx-supervisor
KTX_WORKER=${KTX_PKGLIBEXECDIR:?run through make installcheck}/ktx-worker
export KTX_SUPERVISOR KTX_WORKER
. "${KTX_TOP_SRCDIR:?run through make installcheck}/tests/lib.sh"
unset KTX_WORKER	# lib.sh wants it; the installed supervisor must not

for tool in jq sqlite3 git; do
	command -v "$tool" >/dev/null || { echo "$tool is required (scripts/deps installs it)" >&2; exit 1; }
done

# installed FILE SOURCE: FILE is installed with SOURCE's bytes.
installed() {
	[ -f "$1" ] || { echo "not installed: $1" >&2; return 1; }
	cmp -s "$1" "$2" || { echo "$1 differs from $2" >&2; return 1; }
}

check "ktx-supervisor in bindir" test -x "$KTX_SUPERVISOR"
check "ktx-worker in pkglibexecdir" test -x "$KTX_PKGLIBEXECDIR/ktx-worker"
check "ktx-supervisor --version" sh -c "'$KTX_SUPERVISOR' --version | grep -q '^ktx-supervisor [0-9]'"
for p in "$KTX_TOP_SRCDIR"/man/*.[1-9]; do
	name=$(basename "$p")
	check "man page $name in man${name##*.}" installed "$KTX_MANDIR/man${name##*.}/$name" "$p"
done
if [ -d "$KTX_TOP_SRCDIR/skills" ]; then
	check "skills/ in pkgdatadir/skills" diff -r "$KTX_TOP_SRCDIR/skills" "$KTX_PKGDATADIR/skills"
fi
comp=$KTX_BASHCOMPLETIONDIR/ktx-supervisor
if [ "$KTX_BASHCOMPLETIONDIR" != no ]; then
	check "bash completion" installed "$comp" "$KTX_TOP_SRCDIR/contrib/bash-completion/ktx-supervisor"
fi
units=$KTX_SYSTEMDUNITDIR
if [ "$units" != no ]; then
	check "systemd timer" installed "$units/ktx-ingest@.timer" "$KTX_TOP_SRCDIR/contrib/systemd/ktx-ingest@.timer"
	check "systemd service runs the installed ktx-supervisor" \
	    grep -qxF "ExecStart=$KTX_SUPERVISOR -C %f ingest --all --grace 30" "$units/ktx-ingest@.service"
fi

# jq_true FILTER FILE: FILTER is true of FILE's document.
jq_true() { jq -e "$@" >/dev/null; }

# The demo, as scripts/quickstart runs it, from the installed programs.
P=$T/demo
cp -R "$KTX_TOP_SRCDIR/examples/demo/." "$P"
chmod -R u+w "$P"	# distcheck's source tree is read-only
rm "$P/README.md" "$P/CONTENT.md"
sqlite3 -bail "$P/warehouse.sqlite" <"$P/warehouse.sql"
check "demo: init" sh -c "'$KTX_SUPERVISOR' -C '$P' init >/dev/null"
"$KTX_SUPERVISOR" -C "$P" ingest --all --json >"$T/out" 2>"$T/err"
rc=$?
check "demo: ingest --all exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$T/err" >&2
check "demo: every target done" jq_true \
    '(.results | length) == 4 and all(.results[]; .status == "done" and (.commit | type) == "string")' "$T/out"
check "demo: no session left" sh -c "[ -z \"\$(ls -A '$P/.ktx/worktrees')\" ]"

# The installed completion, in a real bash, with the installed program.
if [ "$KTX_BASHCOMPLETIONDIR" != no ] && command -v bash >/dev/null; then
	PATH=$KTX_BINDIR:$PATH bash -c '. "$1"; COMP_WORDS=(ktx-supervisor -C "$2" ingest ""); COMP_CWORD=4
	    _ktx_supervisor; printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$P" \
	    >"$T/comp" 2>&1
	check "completion: the demo's connection ids" \
	    test "$(sort "$T/comp" | tr '\n' ' ')" = "dbt metabase notion warehouse "
fi

# The installed units pass systemd-analyze verify, man pages found.
if [ "$units" != no ] && command -v systemd-analyze >/dev/null; then
	MANPATH=$KTX_MANDIR systemd-analyze verify "$units/ktx-ingest@.service" \
	    "$units/ktx-ingest@.timer" >"$T/verify" 2>&1
	rc=$?
	check "systemd-analyze verify: the installed units" test "$rc" -eq 0 -a ! -s "$T/verify"
	[ -s "$T/verify" ] && cat "$T/verify" >&2
fi

finish
