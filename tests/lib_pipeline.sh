# Helpers for the pipeline's end-to-end scripts (e2e_pipeline*.sh), sourced
# after lib.sh.  Projects are real ktx projects (ktx-supervisor init);
# external adapters are shell scripts written by `adapter`, which may use
# the steps of $STEPS:
#
#   page KEY BODY          wiki/global/KEY.md, summary "Page KEY"
#   write PATH TEXT        a file in the worktree (TEXT through printf %b)
#   stage REL TEXT         a raw file in the staging dir
#   emit JSON              one line on stdout
#   overlay CONN SOURCE    an overlay and a page naming it, if the manifest
#                          of CONN backs SOURCE; else a skip with
#                          "missing schema context" and nothing written
#   wait_fifo FIFO         block until the fifo is opened for writing
#   post FIFO              open it for writing

command -v jq >/dev/null || { echo "jq is required (scripts/deps installs it)" >&2; exit 99; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is required (scripts/deps installs it)" >&2; exit 99; }

GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.com
GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.com
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
unset KTX_INGEST_TRACE_LEVEL

STEPS=$T/steps.sh
cat >"$STEPS" <<'EOF'
set -u
page() {
	mkdir -p wiki/global
	printf -- '---\nsummary: Page %s\nusage_mode: auto\n---\n\n%s\n' "$1" "$2" \
	    >"wiki/global/$1.md"
}
write() { mkdir -p "$(dirname "$1")"; printf '%b' "$2" >"$1"; }
stage() {
	mkdir -p "$KTX_STAGING_DIR/$(dirname "$1")"
	printf '%b' "$2" >"$KTX_STAGING_DIR/$1"
}
emit() { printf '%s\n' "$1"; }
overlay() {
	if grep -qs "^  $2:\$" semantic-layer/"$1"/_schema/*.yaml; then
		write "semantic-layer/$1/$2.yaml" \
		    "name: $2\nmeasures:\n  - name: $2_count\n    expr: count(*)\n"
		printf -- '---\nsummary: Counting %s\nusage_mode: auto\nsl_refs:\n  - %s\n---\n\nCount with `%s.%s_count`.\n' \
		    "$2" "$2" "$2" "$2" >"wiki/global/count-$2.md"
	else
		emit "{\"event\":\"item_skipped\",\"item\":\"$2\",\"reason\":\"missing schema context: no manifest entry for $1/$2\"}"
	fi
}
wait_fifo() { read -r _ <"$1"; }
post() { echo go >"$1"; }
EOF

# post FIFO: let an adapter blocked in wait_fifo go on.
post() { echo go >"$1"; }

# adapter NAME: the adapter script $T/NAME.sh from stdin (steps available).
adapter() {
	{ echo ". '$STEPS'"; cat; } >"$T/$1.sh"
}

# mkktx NAME: a fresh ktx project $T/NAME (ktx-supervisor init); sets P.
mkktx() {
	P=$T/$1
	sup -C "$P" init >/dev/null || { echo "init $P failed" >&2; exit 1; }
}

# cmdconn ID DRIVER SCRIPT [YAML-LINE...]: a connection run by $T/SCRIPT.sh.
cmdconn() {
	local id="$1" driver="$2" script="$3"
	shift 3
	printf '  %s:\n    driver: %s\n' "$id" "$driver"
	printf '    adapter:\n      command: [sh, "%s"]\n' "$T/$script.sh"
	for line in "$@"; do printf '      %s\n' "$line"; done
}

# warehouse ID SQL: a sqlite connection over $T/ID.sqlite built from SQL.
warehouse() {
	rm -f "$T/$1.sqlite"
	sqlite3 "$T/$1.sqlite" "$2"
	printf '  %s:\n    driver: sqlite\n    path: %s\n' "$1" "$T/$1.sqlite"
}

# config: ktx.yaml of $P from stdin ("connections:" included by the
# caller), committed, so that main and its checkout start clean.
config() {
	cat >"$P/ktx.yaml"
	git -C "$P" commit -q -m "test: ktx.yaml" ktx.yaml
}

# ingest ARGS...: ktx-supervisor -C $P ingest --json ARGS, the document in
# $T/out, stderr in $T/err; returns its exit status.
ingest() { sup -C "$P" ingest --json "$@" >"$T/out" 2>"$T/err"; }

# result CONN FILTER: jq FILTER on CONN's result in $T/out is true.
result() {
	jq -e --arg c "$1" ".results[] | select(.connectionId == \$c) | $2" \
	    "$T/out" >/dev/null || {
		echo "not true for $1: $2" >&2
		jq --arg c "$1" '.results[] | select(.connectionId == $c)' "$T/out" >&2
		return 1
	}
}

# field CONN NAME: a member of CONN's result.
rfield() { jq -r --arg c "$1" ".results[] | select(.connectionId == \$c) | .$2" "$T/out"; }

# trace CONN: the trace file of CONN's result.
trace() { rfield "$1" trace; }

# events CONN FILTER: the trace events of CONN that FILTER selects, one a line.
events() { jq -c "select($2)" "$(trace "$1")"; }

# has_event CONN FILTER: CONN's trace has an event FILTER selects.
has_event() {
	[ -n "$(events "$1" "$2")" ] || {
		echo "no event $2 in $(trace "$1")" >&2
		return 1
	}
}

# head_of: main's commit in $P.
head_of() { git -C "$P" rev-parse HEAD; }
# state_of: main's commit and the status of the root checkout.
state_of() { git -C "$P" rev-parse HEAD; git -C "$P" status --porcelain; }

# no_leftovers: no session worktree, no session branch.
no_leftovers() {
	[ -z "$(ls -A "$P/.ktx/worktrees" 2>/dev/null)" ] &&
	    [ -z "$(git -C "$P" branch --list 'session/*')" ] || {
		ls -A "$P/.ktx/worktrees" >&2
		git -C "$P" branch --list 'session/*' >&2
		return 1
	}
}

# sentinel CONN FILTER: the kept worktree of CONN has a sentinel FILTER
# accepts.
sentinel() {
	local wt
	wt=$(rfield "$1" worktree)
	[ -n "$wt" ] && [ "$wt" != null ] && [ -f "$wt/.ktx-outcome" ] || {
		echo "no sentinel for $1 ($wt)" >&2
		return 1
	}
	jq -e "$2" "$wt/.ktx-outcome" >/dev/null || {
		echo "sentinel not $2:" >&2
		cat "$wt/.ktx-outcome" >&2
		return 1
	}
}

# on_main PATH: PATH's content on main.
on_main() { git -C "$P" show "HEAD:$1"; }
