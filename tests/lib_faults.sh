# Helpers for the fault-injection scripts (e2e_faults*.sh, e2e_load.sh),
# sourced after lib.sh, lib_engine.sh and lib_pipeline.sh.
#
# A worker stops at a point with KTX_FAILPOINT=POINT and
# KTX_FAILPOINT_FILE=FILE (ktx-worker(8) ENVIRONMENT): the first one to get
# there writes "POINT PID" to FILE and waits for a signal.  The adapters
# here are command adapters that log "start CONN PID PGID N" to $FLOG (N:
# how many KTX_FAILPOINT variables they see), stage
# one raw file and write $NPAGES pages wiki/global/CONN-N.md.

FLOG=$T/faults.log
NPAGES=${NPAGES:-5}
adapter writer <<EOF
echo "start \$KTX_CONNECTION_ID \$\$ \$(awk '{ print \$5 }' /proc/\$\$/stat) \$(env | grep -c '^KTX_FAILPOINT')" >>"$FLOG"
stage "input/\$KTX_CONNECTION_ID.txt" "raw input of \$KTX_CONNECTION_ID\\n"
i=0
while [ \$i -lt $NPAGES ]; do
	i=\$((i + 1))
	page "\$KTX_CONNECTION_ID-\$i" "Page \$i of \$KTX_CONNECTION_ID."
done
EOF

# fp_pid FILE: the pid FILE names once the worker stopped at its point.
fp_pid() { awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $2 }' "$1" 2>/dev/null; }
fp_reached() { [ -n "$(fp_pid "$1")" ]; }

# run_pids: the pids of the supervisor $SUP and its children now, one a
# line (the workers).
run_pids() {
	echo "$SUP"
	ps -eo pid=,ppid= | awk -v s="$SUP" '$2 == s { print $1 }'
}

# flog_mark: adapters logged from now on belong to the next run.
flog_mark() { cat "$FLOG" 2>/dev/null | wc -l >"$T/flog.mark"; }

# fault_survivors PIDS-FILE: live processes of this test (their command
# line names ktx- or the test's dir: pids are reused on a busy machine)
# that are one of PIDS-FILE or in a process group led by one of them, or
# in a group an adapter logged in $FLOG since flog_mark.
fault_survivors() {
	{
		cat "$1"
		[ -f "$FLOG" ] && tail -n +"$(($(cat "$T/flog.mark") + 1))" "$FLOG" |
		    awk '$1 == "start" { print $4 }'
	} | sort -u >"$T/watched"
	ps -eo pid=,pgid=,stat=,args= | awk -v t="$T" 'NR == FNR { w[$1] = 1; next }
	    ($1 in w || $2 in w) && $3 !~ /^Z/ &&
	    (index($0, "ktx-") || index($0, t)) { print }' "$T/watched" -
}
no_fault_survivors() {
	local left
	left=$(fault_survivors "$1")
	[ -z "$left" ] || { echo "left: $left" >&2; return 1; }
}

# commits_of CONN: the squash commits of CONN's targets on main since
# $BASE, one a line.
commits_of() {
	git -C "$P" log --format='%H %s' "$BASE..HEAD" |
	    awk -v c="-$1 syncId=" 'index($0, c) { print $1 }'
}

# whole_squashes CONN...: every commit main gained since $BASE is the
# squash of one of CONN... and holds that target's files and nothing else:
# its first one all of its pages and a raw snapshot, a later one a new
# snapshot; a source's pages are all on main or none, all iff it has a
# commit.
whole_squashes() {
	local c n commit subj files seen=" " bad=0
	for commit in $(git -C "$P" rev-list --reverse "$BASE..HEAD"); do
		subj=$(git -C "$P" log -1 --format=%s "$commit")
		c=
		for n in "$@"; do
			case $subj in "ingest("*"-$n syncId="*) c=$n ;; esac
		done
		[ -n "$c" ] || { echo "foreign commit on main: $subj" >&2; bad=1; continue; }
		files=$(git -C "$P" diff-tree -r --no-commit-id --name-only "$commit^" "$commit")
		if echo "$files" | grep -v -E "^(wiki/global/$c-[0-9]+\.md|raw-sources/$c/.*|semantic-layer/$c/.*)\$" | grep -q .; then
			echo "commit $commit of $c holds other files:" >&2
			echo "$files" >&2
			bad=1
		fi
		n=$(echo "$files" | grep -c "^wiki/global/$c-")
		case "$c $seen" in
		db*) ;;
		*" $c "*) [ "$n" -eq 0 ] || { echo "$c: $n pages again in $commit" >&2; bad=1; } ;;
		*) [ "$n" -eq "$NPAGES" ] || { echo "$c: $n of $NPAGES pages in $commit" >&2; bad=1; } ;;
		esac
		seen="$seen$c "
		echo "$files" | grep -q "^raw-sources/$c/" ||
		    { echo "commit $commit of $c has no raw snapshot" >&2; bad=1; }
	done
	for c in "$@"; do
		[ "$c" = db ] && continue
		n=$(git -C "$P" ls-tree -r --name-only HEAD wiki/global | grep -c "^wiki/global/$c-")
		if [ -n "$(commits_of "$c")" ]; then
			[ "$n" -eq "$NPAGES" ] || { echo "$c landed with $n pages" >&2; bad=1; }
		else
			[ "$n" -eq 0 ] || { echo "$c has $n pages and no commit" >&2; bad=1; }
		fi
	done
	return $bad
}

# sound: git fsck finds nothing, the root checkout matches main.
sound() {
	git -C "$P" fsck --strict --no-progress --no-dangling >"$T/fsck" 2>&1 &&
	    [ ! -s "$T/fsck" ] || { cat "$T/fsck" >&2; return 1; }
	[ -z "$(git -C "$P" status --porcelain --untracked-files=no)" ] || {
		git -C "$P" status --porcelain --untracked-files=no >&2
		return 1
	}
}

# git_locks: the git lock files in the project, one a line.
git_locks() { find "$P/.git" -name '*.lock' 2>/dev/null | sort; }

# no_listener: nothing answers on the control socket.
no_listener() {
	! sup -C "$P" status --json 2>/dev/null | jq -e '.running == true' >/dev/null 2>&1
}
