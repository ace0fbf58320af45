/*
 * The git layer (libgit2): the project repository, session worktrees, the
 * refresh merge, the squash into main, and the raw-sources diff summary.
 *
 * Every function returns 0 on success and -1 on failure; on failure it
 * puts one git-style line (no trailing newline) in *errmsg when errmsg is
 * not NULL.  Caller frees *errmsg.  Nothing here exits or prints.
 * A conflict is an outcome, not a failure: it is reported in the result
 * with the conflicting paths and the function returns 0.
 *
 * Commits are given as 40-digit hex ids; anything libgit2's revparse takes
 * ("HEAD", "session/<jobId>") is accepted where a commit goes in.
 *
 * libgit2 is not fork-safe once initialised: call gitops_init() in a
 * worker after exec, or in a one-shot command that forks no workers
 * (init, recover), never in the running supervisor.  One process, one
 * thread of git work.
 */
#ifndef KTX_GITOPS_H
#define KTX_GITOPS_H

#include <stddef.h>

#include "util.h"

#define GITOPS_HEXSZ		40
/* The largest tree object libgit2 keeps in its object cache (bytes). */
#define GITOPS_TREE_CACHE_LIMIT	(16 * 1024 * 1024)
#define GITOPS_BOOTSTRAP_MESSAGE	"Initialize ktx project repository"
#define GITOPS_WORKTREES_DIR	".ktx/worktrees"

struct git_repository;

/* Initialise / shut down libgit2 (counted; pair every init with a shutdown). */
int	 gitops_init(char **errmsg);
void	 gitops_shutdown(void);

/* A name and an e-mail address for commits; never written to any config. */
struct gitops_ident {
	const char	*name;
	const char	*email;
};

/* What a directory is to ktx (read-only: looks at <dir> only, never above). */
enum gitops_ownership {
	GITOPS_UNOWNED,		/* no <dir>/.git (dir may not exist): ktx may init */
	GITOPS_KTX_MANAGED,	/* .git is a directory and ktx.yaml a file at its root */
	GITOPS_FOREIGN_REPO,	/* .git without ktx.yaml, or a bare repository */
	GITOPS_LINKED_WORKTREE,	/* .git is not a directory (a gitfile): never ours */
	GITOPS_NOT_A_DIRECTORY	/* <dir> exists and is not a directory */
};
enum gitops_ownership gitops_classify(const char *dir);

/*
 * The refusal for an ownership that is not UNOWNED or KTX_MANAGED, as a
 * git-style line naming dir.  Caller frees.
 */
char	*gitops_ownership_error(const char *dir, enum gitops_ownership);

/*
 * An open repository: a project root or a session worktree.  Safe to
 * release when zeroed.
 */
struct gitops_repo {
	struct git_repository	*git;
	char			*workdir;	/* absolute, no trailing slash */
	char			*gitdir;	/* its own git dir, no trailing slash */
	char			*name;		/* committer identity */
	char			*email;
};
void	 gitops_repo_release(struct gitops_repo *);

#define GITOPS_OPEN_CREATE	0x1	/* git init an UNOWNED dir (branch main) */

#define GITOPS_DID_INIT		0x1	/* a repository was created */
#define GITOPS_DID_BOOTSTRAP	0x2	/* the empty bootstrap commit was made */
#define GITOPS_DID_CONFIG	0x4	/* gc/maintenance.autoDetach were set */

/*
 * Open (adopt) the project repository at dir, by that path only: the
 * environment (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE,
 * GIT_CEILING_DIRECTORIES) never redirects it.  Refuses a foreign
 * repository or a linked worktree without touching it.  With
 * GITOPS_OPEN_CREATE an UNOWNED dir gets a repository whose first branch
 * is main, and the repository's gc.autoDetach / maintenance.autoDetach are
 * set to false where they are not yet.  A repository without HEAD gets
 * the empty bootstrap commit by ident.  *did (may be NULL) says what was
 * done.  ident (NULL: ktx <ktx@example.com>; storage.git.author) is the
 * committer of every commit made through the handle and the name in its
 * reflog entries; it is written to no config.
 */
int	 gitops_open_project(struct gitops_repo *, const char *dir,
	    const struct gitops_ident *, int flags, int *did, char **errmsg);

/*
 * Open a session worktree at path (a linked worktree of a project), by
 * that path only, as gitops_open_project.
 */
int	 gitops_open_worktree(struct gitops_repo *, const char *path,
	    const struct gitops_ident *, char **errmsg);

/* HEAD's commit as hex into hex[GITOPS_HEXSZ + 1]. */
int	 gitops_head(struct gitops_repo *, char *hex, char **errmsg);

/* Resolve a commit-ish to a commit id in hex. */
int	 gitops_resolve(struct gitops_repo *, const char *spec, char *hex,
	    char **errmsg);

/*
 * Commit paths (relative to the workdir, as they are on disk; a missing
 * file is removed) on the current branch, with a tree of HEAD plus exactly
 * these paths: whatever else is staged stays staged and uncommitted.  The
 * index entries of these paths are updated.  *created is 0 and no commit
 * is made when nothing changes.  author NULL: the repository's identity.
 */
int	 gitops_commit_paths(struct gitops_repo *, const char *const *paths,
	    size_t npaths, const char *message, const struct gitops_ident *author,
	    char *hex, int *created, char **errmsg);

/*
 * Commit everything changed in the working tree (new, modified and
 * deleted files, .gitignore respected).  *created is 0 and hex is HEAD
 * when there is nothing to commit.
 */
int	 gitops_commit_all(struct gitops_repo *, const char *message,
	    const struct gitops_ident *author, char *hex, int *created,
	    char **errmsg);

/* A session worktree.  Safe to release when zeroed. */
struct gitops_session {
	char	*key;		/* jobId, or jobId-<epoch ms> after a collision */
	char	*path;		/* <project>/.ktx/worktrees/session-<key> */
	char	*branch;	/* session/<key> */
	char	 base[GITOPS_HEXSZ + 1];
};
void	 gitops_session_release(struct gitops_session *);

/*
 * Create .ktx/worktrees/session-<jobId> on a new branch session/<jobId>
 * at commit base.  If the path, the branch or the worktree's admin entry
 * exists, both get the suffix -<epoch ms>.  jobId must be a safe token
 * ([A-Za-z0-9][A-Za-z0-9._-]*).  Call under the repo lock.
 */
int	 gitops_session_create(struct gitops_repo *project, const char *job_id,
	    const char *base, struct gitops_session *, char **errmsg);

/*
 * Remove a session worktree: its files, its admin dir under
 * .git/worktrees and its branch.  Either may already be gone.  path must
 * lie in .ktx/worktrees; branch may be NULL.  Call under the repo lock.
 */
int	 gitops_session_remove(struct gitops_repo *project, const char *path,
	    const char *branch, char **errmsg);

/* Leftovers of earlier runs: session worktree dirs and session/ branches. */
struct gitops_leftovers {
	struct strv	 worktrees;	/* absolute paths, sorted */
	struct strv	 branches;	/* "session/<key>", sorted */
};
void	 gitops_leftovers_release(struct gitops_leftovers *);
int	 gitops_list_leftovers(struct gitops_repo *project,
	    struct gitops_leftovers *, char **errmsg);

/* Paths that stop a refresh or a squash; safe to release when zeroed. */
enum gitops_refresh_status {
	GITOPS_REFRESH_UNCHANGED,	/* commit already contained in HEAD */
	GITOPS_REFRESH_CHANGED,		/* fast-forward or merge commit */
	GITOPS_REFRESH_CONFLICT		/* nothing changed; see conflicts */
};
struct gitops_refresh {
	enum gitops_refresh_status status;
	int		 fast_forward;	/* CHANGED by moving HEAD forward */
	char		 head[GITOPS_HEXSZ + 1];	/* HEAD after the refresh */
	struct strv	 conflicts;	/* sorted repository paths */
};
void	 gitops_refresh_release(struct gitops_refresh *);

/*
 * Merge commit into the worktree's current branch: no-op when already
 * contained, a fast-forward when HEAD is an ancestor of commit, else a
 * merge commit (the repository's identity, "Merge commit '<id>' into
 * <branch>").  On a conflict (content, or a dirty or untracked file the
 * update would overwrite) HEAD, the index and the files are left as they
 * were and the paths are listed.  Only the changed paths of the working
 * tree are touched.
 */
int	 gitops_refresh(struct gitops_repo *worktree, const char *commit,
	    struct gitops_refresh *, char **errmsg);

/*
 * ktx's clean check: fails with ktx's message when a merge, rebase,
 * cherry-pick, revert or sequencer run is in progress or the index has
 * unmerged paths.  Dirty and untracked files are not checked.
 */
int	 gitops_check_clean(struct gitops_repo *, char **errmsg);

enum gitops_squash_status {
	GITOPS_SQUASH_COMMITTED,	/* main moved to commit */
	GITOPS_SQUASH_EMPTY,		/* session tree equals main's: no commit */
	GITOPS_SQUASH_CONFLICT		/* nothing changed; see conflicts */
};
struct gitops_squash {
	enum gitops_squash_status status;
	char		 commit[GITOPS_HEXSZ + 1];	/* new main, "" unless COMMITTED */
	char		 parent[GITOPS_HEXSZ + 1];	/* main before */
	struct strv	 touched;	/* paths that differ, sorted */
	struct strv	 conflicts;	/* edits / untracked files in the way */
};
void	 gitops_squash_release(struct gitops_squash *);

/*
 * Squash the session commit into the project's current branch (main):
 * one commit whose tree is the session's and whose parent is main's HEAD,
 * which the session must contain (refresh first; refused otherwise).
 * The project's index and files are brought to it for the changed paths
 * only; a user's edit, staged change or untracked file in one of them
 * refuses the squash with the paths and changes nothing.
 *
 * Order: check the paths, write the commit object, write the journal
 * .git/ktx-squash (branch, old, new), update files and index, move the
 * branch by compare-and-swap on its old value, drop the journal.  A
 * process killed at any point leaves the branch old or new:
 *  - before the journal: main old, the checkout untouched (at most an
 *    unreferenced commit object);
 *  - journal written, branch not moved: main old, some of the squash's
 *    paths may hold the new content; the next gitops_squash or
 *    gitops_recover_squash puts them back to main's;
 *  - branch moved: main new with its files; the journal is dropped.
 * The dead process's git lock files (index.lock, <branch>.lock) must be
 * removed before that (the supervisor does, DESIGN section 5).
 */
int	 gitops_squash(struct gitops_repo *project, const char *session_commit,
	    const char *message, const struct gitops_ident *author,
	    struct gitops_squash *, char **errmsg);

/*
 * Finish an interrupted squash (the journal .git/ktx-squash): if the
 * branch moved, drop the journal; if not, restore the squash's paths in
 * the index and working tree to the branch's content, then drop it.
 * *recovered (may be NULL) is 1 when there was a journal.  Call under the
 * repo lock, after stale git lock files of the dead process are gone.
 */
int	 gitops_recover_squash(struct gitops_repo *project, int *recovered,
	    char **errmsg);

/* What a commit changed at a path, against another one. */
enum gitops_change_kind {
	GITOPS_ADDED,
	GITOPS_MODIFIED,
	GITOPS_DELETED
};
struct gitops_change {
	enum gitops_change_kind	 kind;
	char			*path;
};
/* A list of changes, sorted bytewise by path.  Safe to release when zeroed. */
struct gitops_changes {
	struct gitops_change	*v;
	size_t			 n;
};
void	 gitops_changes_release(struct gitops_changes *);

/*
 * The files that differ between the trees of two commits, from "from"'s
 * point of view: added in "to", modified, or deleted.  A path whose type
 * changed between a file and a directory is a deletion of the one and
 * additions under the other.
 */
int	 gitops_diff(struct gitops_repo *, const char *from, const char *to,
	    struct gitops_changes *, char **errmsg);

/* Counts of a raw-sources snapshot against the previous one. */
struct gitops_diffstat {
	unsigned	added;
	unsigned	modified;
	unsigned	deleted;
	unsigned	unchanged;
};

/*
 * Compare <parent>/<sync_id>/ with the lexicographically greatest earlier
 * <parent>/<sync>/ in commit's tree, by relative path and blob id
 * (parent is "raw-sources/<conn>/<sourceKey>").  Without an earlier one
 * every file is added.
 */
int	 gitops_snapshot_diff(struct gitops_repo *, const char *commit,
	    const char *parent, const char *sync_id, struct gitops_diffstat *,
	    char **errmsg);

/*
 * "ingest(<src>): <jobId> syncId=<syncId> diff=+A/~M/-D/=U".  Caller frees.
 */
char	*gitops_squash_message(const char *source_key, const char *job_id,
	    const char *sync_id, const struct gitops_diffstat *);

#endif
