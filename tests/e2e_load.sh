#!/bin/sh
# Load: 200 source targets (command adapters, one page and one raw file
# each) at -j 32 all land: 200 squash commits on main, each with its
# target's page and snapshot, every final gate passed, nothing left behind.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_faults.sh"

N=${LOAD_TARGETS:-200}
J=${LOAD_JOBS:-32}

mkktx load
adapter one <<EOF
echo "start \$KTX_CONNECTION_ID \$\$ \$(awk '{ print \$5 }' /proc/\$\$/stat) 0" >>"$FLOG"
stage "input/\$KTX_CONNECTION_ID.txt" "raw input of \$KTX_CONNECTION_ID\\n"
page "\$KTX_CONNECTION_ID" "Page of \$KTX_CONNECTION_ID."
EOF
{
	echo "connections:"
	i=0
	while [ $i -lt "$N" ]; do
		i=$((i + 1))
		cmdconn "$(printf 'src%03d' $i)" dbt one
	done
} | config
BASE=$(head_of)
start=$(now)
flog_mark
sup_bg -C "$P" ingest --json --all -j "$J"
echo "$SUP" >"$T/pids"
# The most workers seen at once, sampled while the run lasts; every
# worker seen goes to $T/pids.
peak=0
while kill -0 "$SUP" 2>/dev/null; do
	ps -eo pid=,ppid= | awk -v s="$SUP" '$2 == s { print $1 }' >"$T/now"
	n=$(wc -l <"$T/now")
	cat "$T/now" >>"$T/pids"
	[ "$n" -gt "$peak" ] && peak=$n
	sleep 0.2
done
wait "$SUP"
rc=$?
took=$(elapsed_since "$start")
echo "load: $N targets at -j $J in $took s, at most $peak workers seen at once"
cp "$T/bg.out" "$T/out"

check "load: exit 0" [ "$rc" -eq 0 ]
all_done() {
	jq -e --argjson n "$N" '[.results[] | select(.status == "done" and
	    .commit != null)] | length == $n' "$T/out" >/dev/null
}
check "load: all $N done with a commit" all_done
check "load: never more than $J workers at once ($peak)" [ "$peak" -le "$J" ]
check "load: $N squash commits on main since the start" \
    [ "$(git -C "$P" rev-list --count "$BASE..HEAD")" -eq "$N" ]
# every_commit_reachable: each result's commit is an ancestor of main and
# holds its target's page and raw file, nothing else.
every_commit_reachable() {
	jq -r '.results[] | "\(.connectionId) \(.commit)"' "$T/out" >"$T/commits"
	while read -r c commit; do
		git -C "$P" merge-base --is-ancestor "$commit" HEAD ||
		    { echo "$c: $commit is not on main" >&2; return 1; }
		git -C "$P" diff-tree -r --no-commit-id --name-only "$commit^" "$commit" >"$T/files"
		grep -qx "wiki/global/$c.md" "$T/files" &&
		    grep -q "^raw-sources/$c/dbt/.*/input/$c.txt\$" "$T/files" &&
		    [ "$(wc -l <"$T/files")" -eq 2 ] ||
		    { echo "$c: $commit holds:" >&2; cat "$T/files" >&2; return 1; }
	done <"$T/commits"
}
check "load: every target's commit is on main, whole" every_commit_reachable
check "load: every page on main" [ "$(git -C "$P" ls-tree --name-only HEAD wiki/global/ | grep -c '/src[0-9]*\.md$')" -eq "$N" ]
check "load: every target passed its final gates" sh -c "
    cat '$P'/.ktx/ingest-traces/*/trace.jsonl |
    jq -s -e --argjson n $N '[.[] | select(.event == \"final_artifact_gates_finished\")] | length == \$n' >/dev/null"
check "load: git fsck clean, the checkout matches main" sound
check "load: no worktree, no session branch" no_leftovers
check "load: no git lock file" [ -z "$(git_locks)" ]
check "load: no process of the run is left" no_fault_survivors "$T/pids"
check "load: all $N adapters ran" [ "$(grep -c '^start ' "$FLOG")" -eq "$N" ]
finish
