#!/bin/sh
# ktx-supervisor init on throwaway directories: a new project (git
# repository on main, ktx.yaml, the layout, .ktx/.gitignore, two commits),
# a second run that changes nothing, an existing project that gets its
# missing pieces, and the refusals (someone else's repository, a linked
# worktree, a file, extra arguments) that leave everything byte for byte
# as it was and exit 2.  GIT_DIR and friends never redirect it.
. "$KTX_TOP_SRCDIR/tests/lib.sh"

LC_ALL=C
export LC_ALL
# A git with no identity of its own, as on a fresh server; the setup
# commits below say who they are.
HOME=$T/home
XDG_CONFIG_HOME=$HOME
GIT_CONFIG_NOSYSTEM=1
export HOME XDG_CONFIG_HOME GIT_CONFIG_NOSYSTEM
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_CEILING_DIRECTORIES
mkdir -p "$HOME"
printf '[user]\n\tuseConfigOnly = true\n[init]\n\tdefaultBranch = main\n' \
    > "$HOME/.gitconfig"
usergit() {
	GIT_AUTHOR_NAME=user GIT_AUTHOR_EMAIL=user@example.com \
	GIT_COMMITTER_NAME=user GIT_COMMITTER_EMAIL=user@example.com git "$@"
}

# Every name, type, mode and byte under a directory.
digest() {
	(cd "$1" && { find . -printf '%p %y %m\n' | sort
	    find . -type f -print0 | sort -z | xargs -0 sha256sum; }) | sha256sum
}

P=$T/project
check "init creates the directory and the project" \
    sup -C "$P" init
check "the repository is on main" \
    test "$(git -C "$P" symbolic-ref HEAD)" = refs/heads/main
check "a bootstrap commit and the init commit" \
    test "$(git -C "$P" log --format=%s | tr '\n' '|')" = \
    "Initialize ktx project: project|Initialize ktx project repository|"
check "commits by the default identity" \
    test "$(git -C "$P" log --format='%an <%ae>' | sort -u)" = \
    "ktx <ktx@example.com>"
check "the layout is committed" \
    test "$(git -C "$P" ls-files | tr '\n' ' ')" = \
    ".ktx/.gitignore ktx.yaml raw-sources/.gitkeep semantic-layer/.gitkeep wiki/global/.gitkeep "
check ".ktx/.gitignore holds ktx's entries and this program's" \
    test "$(tr '\n' ' ' < "$P/.ktx/.gitignore")" = \
    "cache/ db.sqlite db.sqlite-* ingest-transcripts/ secrets/ setup/ agents/ worktrees/ run/ runs/ ingest-traces/ "
check "ktx.yaml has no connections and one source at a time" \
    grep -q '^connections: {}$' "$P/ktx.yaml"
check "the working tree is clean" \
    test -z "$(git -C "$P" status --porcelain --untracked-files=all)"
check "no identity in the repository's config" \
    sh -c '! grep -q "ktx@example.com" "$1/.git/config"' sh "$P"

before=$(digest "$P")
out=$(sup -C "$P" init 2>&1)
check "a second init succeeds" test $? -eq 0
check "and says the project is already initialized" \
    sh -c 'echo "$1" | grep -q "already initialized"' sh "$out"
check "and changes nothing" test "$(digest "$P")" = "$before"

usergit -C "$P" rm -q raw-sources/.gitkeep
usergit -C "$P" commit -q -m "user removes a piece"
echo "user: edit" >> "$P/ktx.yaml"
check "init completes a project with a missing piece" sup -C "$P" init
check "the piece is back and committed" \
    test "$(git -C "$P" show --format= --name-only HEAD)" = raw-sources/.gitkeep
check "the user's uncommitted edit is neither committed nor lost" \
    test "$(git -C "$P" status --porcelain)" = " M ktx.yaml"

# Refusals: exit 2, a message, nothing touched.
refused() {	# refused DIR PATTERN [ARGS...]
	local dir=$1 pattern=$2 before err
	shift 2
	before=$(digest "$dir")
	err=$(sup -C "$dir" init "$@" 2>&1 >/dev/null)
	[ $? -eq 2 ] || { echo "exit status not 2: $err" >&2; return 1; }
	echo "$err" | grep -q "$pattern" ||
	    { echo "no \"$pattern\" in: $err" >&2; return 1; }
	[ "$(digest "$dir")" = "$before" ]
}
F=$T/foreign
mkdir -p "$F" && echo mine > "$F/README"
usergit -C "$F" init -q && usergit -C "$F" add README &&
    usergit -C "$F" commit -q -m mine
check "a repository without ktx.yaml is refused, untouched" \
    refused "$F" "did not create"
W=$T/linked
usergit -C "$P" worktree add -q -b other "$W"
check "a linked worktree is refused even with ktx.yaml, untouched" \
    refused "$W" "linked git worktree"
echo x > "$T/afile"
check "a file is refused" \
    sh -c '"$1" -C "$2" init 2>/dev/null; test $? -eq 2' sh \
    "$KTX_SUPERVISOR" "$T/afile"
check "extra arguments are a usage error" refused "$P" "usage" extra

# Nested in someone's repository: a repository of its own, theirs untouched.
usergit -C "$F" status --porcelain > "$T/status.before"
head=$(git -C "$F" rev-parse HEAD)
check "a project nested in another repository" sup -C "$F/sub" init
check "gets its own repository" \
    test "$(git -C "$F/sub" rev-parse --show-toplevel)" = "$F/sub"
check "and leaves the parent's HEAD alone" \
    test "$(git -C "$F" rev-parse HEAD)" = "$head"

# A decoy repository in GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE.
D=$T/decoy
mkdir -p "$D" && echo d > "$D/d"
usergit -C "$D" init -q && usergit -C "$D" add d && usergit -C "$D" commit -q -m d
before=$(digest "$D")
check "GIT_DIR and friends do not redirect init" \
    env GIT_DIR="$D/.git" GIT_WORK_TREE="$D" GIT_INDEX_FILE="$D/.git/index" \
    GIT_CEILING_DIRECTORIES="$T" "$KTX_SUPERVISOR" -C "$T/q" init
check "the decoy is untouched" test "$(digest "$D")" = "$before"
check "the project got the commits" \
    test "$(git -C "$T/q" rev-list --count HEAD)" -eq 2

finish
