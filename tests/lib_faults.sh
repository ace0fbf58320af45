# Helpers for the fault-injection scripts (e2e_faults*.sh, e2e_load.sh),
# sourced after lib.sh, lib_engine.sh and lib_pipeline.sh.
#
# A worker stops at a point with KTX_FAILPOINT=POINT and
# KTX_FAILPOINT_FILE=FILE (ktx-worker(8) ENVIRONMENT): the first one to get
# there writes "POINT PID" to FILE and waits for a signal.  The adapters
# here are command adapters that log "start CONN PID PGID N" to $FLOG (N:
# how many KTX_FAILPOINT variables they see), stage one raw file and write
# $NPAGES pages wiki/global/CONN-N.md.  fault_case runs one case of the
# matrix and checks the invariants after it.

FLOG=$T/faults.log
NPAGES=${NPAGES:-5}
# The points of ktx-worker(8), in pipeline order.
FAULT_POINTS=${FAULT_POINTS:-session stage projection refresh reconciliation final-refresh gates squash cleanup}
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

# on_disk: the leftovers of $P as "KIND PATH" lines, sorted, found with
# ls, find and git: session worktrees, session branches without their
# worktree, staging dirs, git lock files, the squash journal, a pidfile
# that names a pid, the control socket.
on_disk() {
	local b
	{
		ls -d "$P"/.ktx/worktrees/session-* 2>/dev/null | sed 's/^/worktree /'
		for b in $(git -C "$P" for-each-ref --format='%(refname:short)' 'refs/heads/session/'); do
			[ -d "$P/.ktx/worktrees/session-${b#session/}" ] || echo "branch $b"
		done
		ls -d "$P"/.ktx/cache/local-ingest/* 2>/dev/null | sed 's/^/staging /'
		git_locks | sed 's/^/gitlock /'
		[ -e "$P/.git/ktx-squash" ] && echo "squash-journal $P/.git/ktx-squash"
		[ -s "$P/.ktx/run/supervisor.pid" ] && echo "pidfile $P/.ktx/run/supervisor.pid"
		[ -e "$P/.ktx/run/supervisor.sock" ] && echo "socket $P/.ktx/run/supervisor.sock"
	} | sort
}

# recover_lists_exactly FILE: the recover --json document in FILE says no
# supervisor runs and lists what on_disk finds, no more, each worktree
# with its branch and its sentinel's outcome.
recover_lists_exactly() {
	local wt
	jq -r '.leftovers[] | "\(.kind) \(if .kind == "branch" then .branch else .path end)"' \
	    "$1" | sort >"$T/listed"
	on_disk >"$T/disk"
	cmp -s "$T/listed" "$T/disk" || {
		echo "recover lists / on disk:" >&2
		diff "$T/listed" "$T/disk" >&2
		return 1
	}
	jq -e '.supervisor.running == false' "$1" >/dev/null || return 1
	for wt in $(jq -r '.leftovers[] | select(.kind == "worktree") | .path' "$1"); do
		jq -e --arg p "$wt" --arg b "session/${wt##*/session-}" \
		    --arg o "$(jq -r .outcome "$wt/.ktx-outcome")" '
		    .leftovers[] | select(.path == $p) | .branch == $b and .outcome == $o' \
		    "$1" >/dev/null || { echo "recover on $wt:" >&2; cat "$1" >&2; return 1; }
	done
}

# fault_case POINT FAULT [db]: three sources at -j 3 (with db: a SQLite
# database target in stage 1 and two sources), the first worker to reach
# POINT stopped there, then FAULT: kill-worker, term-worker, term-sup or
# kill-sup.
fault_case() {
	local point=$1 fault=$2 name="$1 $2${3:+ (stage 1)}" fp victim conn rc want want_rc
	mkktx "$point-$fault${3:-}"
	if [ "${3:-}" = db ]; then
		CONNS="db s1 s2"
		config <<EOF
connections:
$(warehouse db "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL);")
$(cmdconn s1 dbt writer)
$(cmdconn s2 notion writer)
EOF
	else
		CONNS="s1 s2 s3"
		config <<EOF
connections:
$(cmdconn s1 dbt writer)
$(cmdconn s2 notion writer)
$(cmdconn s3 metabase writer)
EOF
	fi
	BASE=$(head_of)
	fp=$T/fp-$point-$fault${3:-}
	flog_mark
	env --default-signal=INT KTX_FAILPOINT="$point" KTX_FAILPOINT_FILE="$fp" \
	    "$KTX_SUPERVISOR" -C "$P" ingest --json --all -j 3 --grace 2 \
	    >"$T/bg.out" 2>"$T/bg.err" &
	SUP=$!
	if ! wait_until 30 fp_reached "$fp"; then
		fail "$name: no worker reached the point"
		kill -KILL "$SUP"
		wait "$SUP"
		return
	fi
	victim=$(fp_pid "$fp")
	conn=$(ps -o args= -p "$victim" | awk '{ print $2 }')
	run_pids >"$T/pids"
	# Past the last safe point a SIGTERM lets the squash end.
	case $point in
	squash|cleanup) want=done ;;
	*) want=aborted ;;
	esac
	case $fault in
	kill-worker) kill -KILL "$victim"; want_rc=1 want=failed ;;
	term-worker)
		kill -TERM "$victim"
		want_rc=1
		[ $want = done ] && want_rc=0 ;;
	term-sup) kill -TERM "$SUP"; want_rc=143 ;;
	kill-sup) kill -KILL "$SUP"; want_rc=137 ;;
	esac
	wait "$SUP"
	rc=$?
	cp "$T/bg.out" "$T/out"
	if [ "$fault" = kill-sup ]; then
		check "$name: the workers end on their own" \
		    wait_until 10 no_fault_survivors "$T/pids" 2>/dev/null
	fi
	check "$name: exit $want_rc ($rc)" [ "$rc" -eq "$want_rc" ]
	check "$name: git fsck clean, the checkout matches main" sound
	check "$name: main moved by whole squash commits only" whole_squashes $CONNS
	check "$name: no process of the run is left" no_fault_survivors "$T/pids"
	check "$name: no git lock file is left" [ -z "$(git_locks)" ]
	if [ "$fault" = kill-sup ]; then
		check "$name: nothing answers on the control socket" no_listener
		check "$name: every session left has its sentinel" sentinels_everywhere
		check "$name: the sentinels say aborted" aborted_sentinels
	else
		check "$name: the control socket is gone" [ ! -e "$P/.ktx/run/supervisor.sock" ]
		check "$name: the victim $conn is $want" result "$conn" ".status == \"$want\""
		check "$name: what is left is what the results name" leftovers_explained
	fi
	sup -C "$P" recover --json >"$T/rec"
	check "$name: recover lists exactly the leftovers" recover_lists_exactly "$T/rec"
	if [ "$fault" = kill-sup ]; then
		check "$name: recover names the dead supervisor's pidfile and socket" \
		    jq -e '[.leftovers[].kind | select(. == "pidfile" or . == "socket")] |
		    sort == ["pidfile", "socket"]' "$T/rec" >/dev/null
	else
		check "$name: no pidfile or socket to recover" \
		    jq -e 'all(.leftovers[]; .kind != "pidfile" and .kind != "socket")' "$T/rec" >/dev/null
	fi
	ingest --all -j 3
	check "$name: the next ingest --all succeeds" [ $? -eq 0 ]
	check "$name: after it, all landed whole, the repository sound" all_landed
	check "$name: recover --prune leaves nothing" sh -c "
	    '$KTX_SUPERVISOR' -C '$P' recover --prune >/dev/null 2>&1"
	check "$name: nothing is left on disk" [ -z "$(on_disk)" ]
}

all_landed() {
	local c
	for c in $CONNS; do
		[ -n "$(commits_of "$c")" ] || { echo "$c did not land" >&2; return 1; }
	done
	whole_squashes $CONNS && sound
}

# sentinels_everywhere: each session worktree has its sentinel and its
# branch, each session branch its worktree.
sentinels_everywhere() {
	local wt n=0
	for wt in "$P"/.ktx/worktrees/session-*; do
		[ -d "$wt" ] || continue
		n=$((n + 1))
		[ -f "$wt/.ktx-outcome" ] || { echo "no sentinel in $wt" >&2; return 1; }
		git -C "$P" rev-parse -q --verify "session/${wt##*/session-}" >/dev/null ||
		    { echo "no branch for $wt" >&2; return 1; }
	done
	[ "$(git -C "$P" branch --list 'session/*' | wc -l)" -eq "$n" ] || {
		git -C "$P" branch --list 'session/*' >&2
		return 1
	}
}

# aborted_sentinels: the sessions a supervisor's death left say aborted,
# for it (the worker may take its SIGTERM for the operator's before it
# reads the hang-up) or after landing.
aborted_sentinels() {
	cat "$P"/.ktx/worktrees/session-*/.ktx-outcome 2>/dev/null | jq -s -e '
	    all(.[]; .outcome == "aborted" and (.reason == "the supervisor is gone" or
	    .reason == "aborted by SIGTERM" or
	    .reason == "landed, but its session was not removed: the supervisor is gone"))' \
	    >/dev/null || {
		cat "$P"/.ktx/worktrees/session-*/.ktx-outcome >&2
		return 1
	}
}

# leftovers_explained: done targets left nothing; the session worktrees
# on disk are the ones the results name, each with its sentinel, each
# with its branch.
leftovers_explained() {
	local wt disk named
	jq -e '[.results[] | select(.status == "done") | .worktree] | all(. == null)' \
	    "$T/out" >/dev/null || { echo "a done target kept its worktree" >&2; return 1; }
	named=$(jq -r '.results[] | select(.worktree != null) | .worktree' "$T/out" | sort)
	disk=$(ls -d "$P"/.ktx/worktrees/session-* 2>/dev/null | sort)
	[ "$named" = "$disk" ] || {
		echo "worktrees named: $named" >&2
		echo "worktrees on disk: $disk" >&2
		return 1
	}
	for wt in $disk; do
		[ -f "$wt/.ktx-outcome" ] || { echo "no sentinel in $wt" >&2; return 1; }
		git -C "$P" rev-parse -q --verify "session/${wt##*/session-}" >/dev/null ||
		    { echo "no branch for $wt" >&2; return 1; }
	done
	[ "$(git -C "$P" branch --list 'session/*' | wc -l)" -eq "$(echo "$disk" | grep -c .)" ] || {
		git -C "$P" branch --list 'session/*' >&2
		return 1
	}
}
