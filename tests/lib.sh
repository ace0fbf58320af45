# Shared helpers for the end-to-end scripts.  Sourced, not run.
# Each script gets a private temp dir, removed on exit unless KTX_KEEP_TMP=1.
set -u

: "${KTX_SUPERVISOR:?run through make check}"
: "${KTX_WORKER:?run through make check}"
: "${KTX_TOP_SRCDIR:?run through make check}"
export KTX_WORKER

T=$(mktemp -d "${TMPDIR:-/tmp}/ktx-e2e.XXXXXX")
cleanup() { [ "${KTX_KEEP_TMP:-0}" = 1 ] || rm -rf "$T"; }
trap cleanup EXIT

ntests=0
nfailed=0
fail() { echo "FAIL: $*" >&2; nfailed=$((nfailed + 1)); }
pass() { echo "ok: $*"; }
# check NAME COMMAND...: run a test step, count it.
check() {
	local name=$1; shift
	ntests=$((ntests + 1))
	if "$@"; then pass "$name"; else fail "$name"; fi
}
finish() {
	echo "$((ntests - nfailed)) passed, $nfailed failed"
	[ "$nfailed" -eq 0 ]
}
sup() { "$KTX_SUPERVISOR" "$@"; }
