/*
 * The git layer on libgit2.  See gitops.h for the contract of each call.
 *
 * Two rules shape everything here.  First, the final window must cost
 * what changed, not what the project holds: trees are compared and merged
 * by walking only the subtrees whose ids differ, and checkouts are limited
 * to the changed paths.  Second, the squash moves main last, by a
 * compare-and-swap, after a journal that lets the next run put the
 * project's files back in step with whichever value main kept.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "gitindex.h"
#include "gitops.h"
#include "packwrite.h"
#include "ktxconfig.h"
#include "util.h"

#define JOURNAL_NAME	"ktx-squash"
#define JOURNAL_MAGIC	"ktx-squash 1"

/* Errors. */

static void __attribute__((format(printf, 2, 0)))
set_errv(char **errmsg, const char *fmt, va_list ap)
{
	char	*s;

	if (errmsg == NULL)
		return;
	if (vasprintf(&s, fmt, ap) < 0)
		s = xstrdup("out of memory");
	free(*errmsg);
	*errmsg = s;
}

static int __attribute__((format(printf, 2, 3)))
fail(char **errmsg, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	set_errv(errmsg, fmt, ap);
	va_end(ap);
	return -1;
}

/* fail() with ": <libgit2's last error>" appended. */
static int __attribute__((format(printf, 2, 3)))
git_fail(char **errmsg, const char *fmt, ...)
{
	const git_error	*e = git_error_last();
	va_list		 ap;
	char		*what;

	if (errmsg == NULL)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	fail(errmsg, "%s: %s", what != NULL ? what : "git",
	    e != NULL && e->message != NULL ? e->message : "unknown error");
	free(what);
	return -1;
}

/* Small helpers. */

static char *
join(const char *a, const char *b)
{
	char	*s;

	if (*a == '\0')
		xasprintf(&s, "%s", b);
	else
		xasprintf(&s, "%s/%s", a, b);
	return s;
}

static char *
strip_slash(const char *s)
{
	char	*p = xstrdup(s);
	size_t	 n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	return p;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
strv_sort_uniq(struct strv *sv)
{
	size_t	i, j;

	if (sv->n == 0)
		return;
	qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
	for (i = 1, j = 1; i < sv->n; i++) {
		if (strcmp(sv->v[i], sv->v[j - 1]) == 0)
			free(sv->v[i]);
		else
			sv->v[j++] = sv->v[i];
	}
	sv->n = j;
	sv->v[j] = NULL;
}

static void
oid_hex(char *hex, const git_oid *oid)
{
	git_oid_tostr(hex, GITOPS_HEXSZ + 1, oid);
}

static int
path_exists(const char *path)
{
	struct stat	sb;

	return lstat(path, &sb) == 0;
}

/* Initialisation. */

int
gitops_init(char **errmsg)
{
	if (git_libgit2_init() < 0)
		return git_fail(errmsg, "cannot initialise libgit2");
	/*
	 * libgit2 caches no tree over 4 KiB: a directory of a few hundred
	 * entries (a scan's tables/) was read, inflated and hashed again for
	 * every path looked up in it.
	 */
	if (git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE,
	    (size_t)GITOPS_TREE_CACHE_LIMIT) < 0)
		return git_fail(errmsg, "cannot set libgit2's tree cache");
	/*
	 * Like git, trust an object read to be the one its name says
	 * (git fsck checks): libgit2 hashed every object it read again,
	 * 9 % of a 2,000-table ingest.
	 */
	if (git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0) < 0)
		return git_fail(errmsg, "cannot set libgit2's hash checks");
	return 0;
}

void
gitops_shutdown(void)
{
	git_libgit2_shutdown();
}

/* Ownership and opening. */

/* A bare repository at dir: HEAD, objects/ and refs/ side by side. */
static int
is_bare_repo(const char *dir)
{
	static const char *const names[] = { "HEAD", "objects", "refs" };
	size_t	 i;
	char	*p;
	int	 all = 1;

	for (i = 0; i < 3 && all; i++) {
		p = join(dir, names[i]);
		all = path_exists(p);
		free(p);
	}
	return all;
}

enum gitops_ownership
gitops_classify(const char *dir)
{
	struct stat	 sb;
	char		*p;
	enum gitops_ownership own;

	if (lstat(dir, &sb) == -1)
		return GITOPS_UNOWNED;
	if (!S_ISDIR(sb.st_mode))
		return GITOPS_NOT_A_DIRECTORY;
	p = join(dir, ".git");
	if (lstat(p, &sb) == -1)
		own = is_bare_repo(dir) ? GITOPS_FOREIGN_REPO : GITOPS_UNOWNED;
	else if (!S_ISDIR(sb.st_mode))
		own = GITOPS_LINKED_WORKTREE;
	else {
		free(p);
		p = join(dir, "ktx.yaml");
		if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			own = GITOPS_KTX_MANAGED;
		else
			own = GITOPS_FOREIGN_REPO;
	}
	free(p);
	return own;
}

char *
gitops_ownership_error(const char *dir, enum gitops_ownership own)
{
	char	*s;

	switch (own) {
	case GITOPS_FOREIGN_REPO:
		xasprintf(&s, "\"%s\" is already a git repository that ktx did "
		    "not create (no ktx.yaml at its root); run ktx in a "
		    "dedicated directory or move the existing repository aside",
		    dir);
		break;
	case GITOPS_LINKED_WORKTREE:
		xasprintf(&s, "\"%s\" is a linked git worktree (.git is not a "
		    "directory); ktx keeps its context in a repository it owns, "
		    "run it in a dedicated directory", dir);
		break;
	case GITOPS_NOT_A_DIRECTORY:
		xasprintf(&s, "\"%s\" is not a directory", dir);
		break;
	case GITOPS_UNOWNED:
		xasprintf(&s, "\"%s\" is not a ktx project (no .git directory)",
		    dir);
		break;
	default:
		xasprintf(&s, "\"%s\" is a ktx project", dir);
		break;
	}
	return s;
}

void
gitops_repo_release(struct gitops_repo *r)
{
	git_repository_free(r->git);
	free(r->workdir);
	free(r->gitdir);
	free(r->name);
	free(r->email);
	memset(r, 0, sizeof(*r));
}

static int
repo_setup(struct gitops_repo *r, git_repository *git,
    const struct gitops_ident *ident, char **errmsg)
{
	const char	*name = KTX_DEFAULT_AUTHOR_NAME, *email = KTX_DEFAULT_AUTHOR_EMAIL;

	if (ident != NULL && ident->name != NULL && ident->email != NULL) {
		name = ident->name;
		email = ident->email;
	}
	if (git_repository_workdir(git) == NULL) {
		git_repository_free(git);
		return fail(errmsg, "\"%s\" is a bare repository",
		    git_repository_path(git));
	}
	/* Reflog entries carry our identity; nothing goes to any config. */
	if (git_repository_set_ident(git, name, email) < 0) {
		git_repository_free(git);
		return git_fail(errmsg, "cannot set the reflog identity");
	}
	r->git = git;
	r->workdir = strip_slash(git_repository_workdir(git));
	r->gitdir = strip_slash(git_repository_path(git));
	r->name = xstrdup(name);
	r->email = xstrdup(email);
	return 0;
}

/* Signature of ident at the current time (author), or of the repo. */
static int
make_sig(git_signature **sig, struct gitops_repo *r,
    const struct gitops_ident *ident, char **errmsg)
{
	const char	*name = r->name, *email = r->email;

	if (ident != NULL && ident->name != NULL && ident->email != NULL) {
		name = ident->name;
		email = ident->email;
	}
	if (git_signature_now(sig, name, email) < 0)
		return git_fail(errmsg, "invalid identity \"%s <%s>\"", name,
		    email);
	return 0;
}

static char *
with_newline(const char *message)
{
	size_t	 n = strlen(message);
	char	*s;

	if (n > 0 && message[n - 1] == '\n')
		return xstrdup(message);
	xasprintf(&s, "%s\n", message);
	return s;
}

/*
 * The branch HEAD points to: its full name (caller frees) and its commit;
 * *unborn is set when it has none yet.
 */
static int
head_branch(struct gitops_repo *r, char **refname, git_oid *oid,
    int *unborn, char **errmsg)
{
	git_reference	*head = NULL;
	int		 error, rc = -1;

	*refname = NULL;
	*unborn = 0;
	if (git_reference_lookup(&head, r->git, "HEAD") < 0) {
		git_fail(errmsg, "cannot read HEAD of \"%s\"", r->workdir);
		goto out;
	}
	if (git_reference_type(head) != GIT_REFERENCE_SYMBOLIC) {
		fail(errmsg, "HEAD of \"%s\" is detached; a branch is needed",
		    r->workdir);
		goto out;
	}
	*refname = xstrdup(git_reference_symbolic_target(head));
	error = git_reference_name_to_id(oid, r->git, *refname);
	if (error == GIT_ENOTFOUND) {
		git_error_clear();
		*unborn = 1;
	} else if (error < 0) {
		git_fail(errmsg, "cannot resolve \"%s\"", *refname);
		goto out;
	}
	rc = 0;
out:
	if (rc == -1) {
		free(*refname);
		*refname = NULL;
	}
	git_reference_free(head);
	return rc;
}

/*
 * Move refname from old (NULL: it must not exist) to new, failing if
 * someone else moved it in between.
 */
static int
move_ref(struct gitops_repo *r, const char *refname, const git_oid *new,
    const git_oid *old, const char *logmsg, char **errmsg)
{
	git_reference	*ref = NULL;
	int		 error;

	if (old == NULL)
		error = git_reference_create(&ref, r->git, refname, new, 0,
		    logmsg);
	else
		error = git_reference_create_matching(&ref, r->git, refname,
		    new, 1, old, logmsg);
	git_reference_free(ref);
	if (error == GIT_EMODIFIED || error == GIT_EEXISTS)
		return git_fail(errmsg, "\"%s\" moved while it was being "
		    "updated", refname);
	if (error < 0)
		return git_fail(errmsg, "cannot update \"%s\"", refname);
	return 0;
}

/* Write a commit object (no ref moves). */
static int
write_commit(struct gitops_repo *r, git_oid *out, const git_oid *tree_id,
    const git_oid *parents, size_t nparents, const char *message,
    const struct gitops_ident *author, char **errmsg)
{
	git_signature	*asig = NULL, *csig = NULL;
	git_tree	*tree = NULL;
	git_commit	*pc[2] = { NULL, NULL };
	char		*msg = NULL;
	size_t		 i;
	int		 rc = -1;

	if (make_sig(&asig, r, author, errmsg) < 0 ||
	    make_sig(&csig, r, NULL, errmsg) < 0)
		goto out;
	if (git_tree_lookup(&tree, r->git, tree_id) < 0) {
		git_fail(errmsg, "cannot read a tree");
		goto out;
	}
	for (i = 0; i < nparents && i < 2; i++) {
		if (git_commit_lookup(&pc[i], r->git, &parents[i]) < 0) {
			git_fail(errmsg, "cannot read a parent commit");
			goto out;
		}
	}
	msg = with_newline(message);
	if (git_commit_create(out, r->git, NULL, asig, csig, NULL, msg, tree,
	    nparents, (const git_commit **)pc) < 0) {
		git_fail(errmsg, "cannot write a commit");
		goto out;
	}
	rc = 0;
out:
	free(msg);
	for (i = 0; i < 2; i++)
		git_commit_free(pc[i]);
	git_tree_free(tree);
	git_signature_free(asig);
	git_signature_free(csig);
	return rc;
}

/* The first line of a message, for reflogs.  Caller frees. */
static char *
reflog_msg(const char *prefix, const char *message)
{
	char	*s;

	xasprintf(&s, "%s: %.*s", prefix, (int)strcspn(message, "\n"),
	    message);
	return s;
}

static int
bootstrap(struct gitops_repo *r, const char *refname,
    const struct gitops_ident *ident, char **errmsg)
{
	git_treebuilder	*bld = NULL;
	git_oid		 tree, commit;
	char		*log = NULL;
	int		 rc = -1;

	if (git_treebuilder_new(&bld, r->git, NULL) < 0 ||
	    git_treebuilder_write(&tree, bld) < 0) {
		git_fail(errmsg, "cannot write the empty tree");
		goto out;
	}
	if (write_commit(r, &commit, &tree, NULL, 0, GITOPS_BOOTSTRAP_MESSAGE,
	    ident, errmsg) < 0)
		goto out;
	log = reflog_msg("commit (initial)", GITOPS_BOOTSTRAP_MESSAGE);
	if (move_ref(r, refname, &commit, NULL, log, errmsg) < 0)
		goto out;
	rc = 0;
out:
	free(log);
	git_treebuilder_free(bld);
	return rc;
}

/* Set key to false in the repository's own config unless it is already. */
static int
ensure_false(git_config *cfg, const char *key, int *changed, char **errmsg)
{
	int	value;

	if (git_config_get_bool(&value, cfg, key) == 0 && value == 0)
		return 0;
	git_error_clear();
	if (git_config_set_bool(cfg, key, 0) < 0)
		return git_fail(errmsg, "cannot set %s", key);
	*changed = 1;
	return 0;
}

static int
ensure_maintenance_attached(struct gitops_repo *r, int *did, char **errmsg)
{
	git_config	*cfg = NULL, *local = NULL;
	int		 changed = 0, rc = -1;

	if (git_repository_config(&cfg, r->git) < 0 ||
	    git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL) < 0) {
		git_fail(errmsg, "cannot open the config of \"%s\"", r->workdir);
		goto out;
	}
	if (ensure_false(local, "gc.autoDetach", &changed, errmsg) < 0 ||
	    ensure_false(local, "maintenance.autoDetach", &changed, errmsg) < 0)
		goto out;
	if (changed)
		*did |= GITOPS_DID_CONFIG;
	rc = 0;
out:
	git_config_free(local);
	git_config_free(cfg);
	return rc;
}

int
gitops_open_project(struct gitops_repo *r, const char *dir,
    const struct gitops_ident *ident, int flags, int *didp, char **errmsg)
{
	git_repository_init_options iopts;
	git_repository	*git = NULL;
	enum gitops_ownership own;
	git_oid		 head;
	char		*refname = NULL, *msg;
	int		 did = 0, unborn, rc = -1;

	memset(r, 0, sizeof(*r));
	git_repository_init_options_init(&iopts,
	    GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	own = gitops_classify(dir);
	if (own == GITOPS_UNOWNED && (flags & GITOPS_OPEN_CREATE)) {
		iopts.flags = GIT_REPOSITORY_INIT_MKPATH |
		    GIT_REPOSITORY_INIT_NO_REINIT;
		iopts.initial_head = "main";
		if (git_repository_init_ext(&git, dir, &iopts) < 0) {
			git_fail(errmsg, "cannot create a git repository in "
			    "\"%s\"", dir);
			goto out;
		}
		did |= GITOPS_DID_INIT;
	} else if (own == GITOPS_KTX_MANAGED) {
		/* By this path only: no search upwards, no GIT_* variables. */
		if (git_repository_open_ext(&git, dir,
		    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
			git_fail(errmsg, "cannot open the git repository in "
			    "\"%s\"", dir);
			goto out;
		}
	} else {
		msg = gitops_ownership_error(dir, own);
		fail(errmsg, "%s", msg);
		free(msg);
		goto out;
	}
	if (repo_setup(r, git, ident, errmsg) < 0)
		goto out;
	if ((flags & GITOPS_OPEN_CREATE) &&
	    ensure_maintenance_attached(r, &did, errmsg) < 0)
		goto out;
	if (head_branch(r, &refname, &head, &unborn, errmsg) < 0)
		goto out;
	if (unborn) {
		if (bootstrap(r, refname, ident, errmsg) < 0)
			goto out;
		did |= GITOPS_DID_BOOTSTRAP;
	}
	rc = 0;
out:
	free(refname);
	if (rc == -1)
		gitops_repo_release(r);
	if (didp != NULL)
		*didp = did;
	return rc;
}

int
gitops_open_worktree(struct gitops_repo *r, const char *path,
    const struct gitops_ident *ident, char **errmsg)
{
	git_repository	*git = NULL;

	memset(r, 0, sizeof(*r));
	if (git_repository_open_ext(&git, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
	    NULL) < 0)
		return git_fail(errmsg, "cannot open the worktree \"%s\"", path);
	return repo_setup(r, git, ident, errmsg);
}

static int
resolve_commit(struct gitops_repo *r, const char *spec, git_oid *oid,
    char **errmsg)
{
	git_object	*obj = NULL, *commit = NULL;
	int		 rc = -1;

	if (git_revparse_single(&obj, r->git, spec) < 0) {
		git_fail(errmsg, "unknown revision \"%s\"", spec);
		goto out;
	}
	if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		git_fail(errmsg, "\"%s\" is not a commit", spec);
		goto out;
	}
	git_oid_cpy(oid, git_object_id(commit));
	rc = 0;
out:
	git_object_free(commit);
	git_object_free(obj);
	return rc;
}

int
gitops_resolve(struct gitops_repo *r, const char *spec, char *hex,
    char **errmsg)
{
	git_oid	oid;

	if (resolve_commit(r, spec, &oid, errmsg) < 0)
		return -1;
	oid_hex(hex, &oid);
	return 0;
}

int
gitops_head(struct gitops_repo *r, char *hex, char **errmsg)
{
	git_oid	 oid;
	char	*refname;
	int	 unborn;

	if (head_branch(r, &refname, &oid, &unborn, errmsg) < 0)
		return -1;
	if (unborn) {
		fail(errmsg, "\"%s\" has no commit yet", refname);
		free(refname);
		return -1;
	}
	free(refname);
	oid_hex(hex, &oid);
	return 0;
}

static int
commit_tree_id(struct gitops_repo *r, const git_oid *commit, git_oid *tree,
    char **errmsg)
{
	git_commit	*c;

	if (git_commit_lookup(&c, r->git, commit) < 0)
		return git_fail(errmsg, "cannot read commit");
	git_oid_cpy(tree, git_commit_tree_id(c));
	git_commit_free(c);
	return 0;
}

static int
lookup_tree(struct gitops_repo *r, const git_oid *id, git_tree **tree,
    char **errmsg)
{
	if (git_tree_lookup(tree, r->git, id) < 0)
		return git_fail(errmsg, "cannot read a tree");
	return 0;
}

/*
 * Tree comparison that walks only the subtrees whose ids differ, so its
 * cost follows what changed, not the size of the project.
 */

enum change { CHANGE_ADDED, CHANGE_MODIFIED, CHANGE_DELETED };
typedef void (*change_fn)(const char *, enum change, void *);

static int
entry_same(const git_tree_entry *a, const git_tree_entry *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return git_tree_entry_filemode(a) == git_tree_entry_filemode(b) &&
	    git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b));
}

static int
entry_is_tree(const git_tree_entry *e)
{
	return e != NULL && git_tree_entry_type(e) == GIT_OBJECT_TREE;
}

static int walk_changes(git_repository *, git_tree *, git_tree *,
    const char *, change_fn, void *);

static int
walk_pair(git_repository *repo, const git_tree_entry *ea,
    const git_tree_entry *eb, const char *prefix, change_fn fn, void *arg)
{
	git_tree	*ta = NULL, *tb = NULL;
	char		*path;
	int		 rc = -1;

	path = join(prefix, git_tree_entry_name(ea != NULL ? ea : eb));
	if (entry_is_tree(ea) && git_tree_lookup(&ta, repo,
	    git_tree_entry_id(ea)) < 0)
		goto out;
	if (entry_is_tree(eb) && git_tree_lookup(&tb, repo,
	    git_tree_entry_id(eb)) < 0)
		goto out;
	if ((ta != NULL || tb != NULL) &&
	    walk_changes(repo, ta, tb, path, fn, arg) < 0)
		goto out;
	if (ea != NULL && ta == NULL && eb != NULL && tb == NULL)
		fn(path, CHANGE_MODIFIED, arg);
	else {
		if (ea != NULL && ta == NULL)
			fn(path, CHANGE_DELETED, arg);
		if (eb != NULL && tb == NULL)
			fn(path, CHANGE_ADDED, arg);
	}
	rc = 0;
out:
	git_tree_free(ta);
	git_tree_free(tb);
	free(path);
	return rc;
}

/* Call fn for every file that differs between a and b (either may be NULL). */
static int
walk_changes(git_repository *repo, git_tree *a, git_tree *b,
    const char *prefix, change_fn fn, void *arg)
{
	const git_tree_entry	*ea, *eb;
	size_t			 i, n;

	if (a != NULL && b != NULL &&
	    git_oid_equal(git_tree_id(a), git_tree_id(b)))
		return 0;
	n = a != NULL ? git_tree_entrycount(a) : 0;
	for (i = 0; i < n; i++) {
		ea = git_tree_entry_byindex(a, i);
		eb = b != NULL ? git_tree_entry_byname(b,
		    git_tree_entry_name(ea)) : NULL;
		if (!entry_same(ea, eb) &&
		    walk_pair(repo, ea, eb, prefix, fn, arg) < 0)
			return -1;
	}
	n = b != NULL ? git_tree_entrycount(b) : 0;
	for (i = 0; i < n; i++) {
		eb = git_tree_entry_byindex(b, i);
		if (a != NULL && git_tree_entry_byname(a,
		    git_tree_entry_name(eb)) != NULL)
			continue;
		if (walk_pair(repo, NULL, eb, prefix, fn, arg) < 0)
			return -1;
	}
	return 0;
}

static void
collect_path(const char *path, enum change change, void *arg)
{
	(void)change;
	strv_push(arg, path);
}

/* The files that differ between two trees, sorted. */
static int
changed_paths(struct gitops_repo *r, git_tree *a, git_tree *b,
    struct strv *out, char **errmsg)
{
	if (walk_changes(r->git, a, b, "", collect_path, out) < 0)
		return git_fail(errmsg, "cannot compare trees");
	strv_sort_uniq(out);
	return 0;
}

/*
 * A three-way merge of trees for the case where, at every path, at most
 * one side changed (ids may be NULL: no tree).  Returns 1 when some path
 * changed on both sides (the caller falls back to a full merge), 0 with
 * the merged tree in *out (*empty when it has no entries), -1 on error.
 */
static int
merge_trees_trivial(git_repository *repo, const git_oid *base,
    const git_oid *ours, const git_oid *theirs, git_oid *out, int *empty)
{
	git_tree		*b = NULL, *o = NULL, *t = NULL;
	git_treebuilder		*bld = NULL;
	const git_tree_entry	*eb, *eo, *et;
	const char		*name;
	git_oid			 sub;
	size_t			 i, n, pass;
	int			 sub_empty, r, rc = -1;

	*empty = 0;
#define SAME(x, y) ((x) == NULL ? (y) == NULL : \
	    (y) != NULL && git_oid_equal((x), (y)))
	if (SAME(ours, theirs) || SAME(base, theirs) || SAME(base, ours)) {
		const git_oid *pick = SAME(base, ours) ? theirs : ours;

		if (pick == NULL)
			*empty = 1;
		else
			git_oid_cpy(out, pick);
		return 0;
	}
#undef SAME
	if (ours == NULL || theirs == NULL)
		return 1;
	if ((base != NULL && git_tree_lookup(&b, repo, base) < 0) ||
	    git_tree_lookup(&o, repo, ours) < 0 ||
	    git_tree_lookup(&t, repo, theirs) < 0 ||
	    git_treebuilder_new(&bld, repo, o) < 0)
		goto out;
	for (pass = 0; pass < 2; pass++) {
		n = git_tree_entrycount(pass == 0 ? o : t);
		for (i = 0; i < n; i++) {
			if (pass == 0) {
				eo = git_tree_entry_byindex(o, i);
				name = git_tree_entry_name(eo);
				et = git_tree_entry_byname(t, name);
			} else {
				et = git_tree_entry_byindex(t, i);
				name = git_tree_entry_name(et);
				if (git_tree_entry_byname(o, name) != NULL)
					continue;
				eo = NULL;
			}
			eb = b != NULL ? git_tree_entry_byname(b, name) : NULL;
			if (entry_same(eo, et) || entry_same(eb, et))
				continue;
			if (entry_same(eb, eo)) {
				if (et == NULL)
					r = git_treebuilder_remove(bld, name);
				else
					r = git_treebuilder_insert(NULL, bld,
					    name, git_tree_entry_id(et),
					    git_tree_entry_filemode(et));
				if (r < 0)
					goto out;
				continue;
			}
			if (!entry_is_tree(eo) || !entry_is_tree(et) ||
			    (eb != NULL && !entry_is_tree(eb))) {
				rc = 1;
				goto out;
			}
			r = merge_trees_trivial(repo,
			    eb != NULL ? git_tree_entry_id(eb) : NULL,
			    git_tree_entry_id(eo), git_tree_entry_id(et), &sub,
			    &sub_empty);
			if (r != 0) {
				rc = r;
				goto out;
			}
			if (sub_empty)
				r = git_treebuilder_remove(bld, name);
			else
				r = git_treebuilder_insert(NULL, bld, name, &sub,
				    GIT_FILEMODE_TREE);
			if (r < 0)
				goto out;
		}
	}
	if (git_treebuilder_entrycount(bld) == 0)
		*empty = 1;
	else if (git_treebuilder_write(out, bld) < 0)
		goto out;
	rc = 0;
out:
	git_treebuilder_free(bld);
	git_tree_free(b);
	git_tree_free(o);
	git_tree_free(t);
	return rc;
}

static int
empty_tree_id(git_repository *repo, git_oid *out)
{
	git_treebuilder	*bld;
	int		 rc;

	if (git_treebuilder_new(&bld, repo, NULL) < 0)
		return -1;
	rc = git_treebuilder_write(out, bld);
	git_treebuilder_free(bld);
	return rc;
}

static int
index_conflict_paths(git_index *idx, struct strv *out, char **errmsg)
{
	git_index_conflict_iterator	*it = NULL;
	const git_index_entry		*anc, *ours, *theirs;
	int				 error;

	if (git_index_conflict_iterator_new(&it, idx) < 0)
		return git_fail(errmsg, "cannot read the index conflicts");
	while ((error = git_index_conflict_next(&anc, &ours, &theirs,
	    it)) == 0)
		strv_push(out, ours != NULL ? ours->path :
		    theirs != NULL ? theirs->path : anc->path);
	git_index_conflict_iterator_free(it);
	if (error != GIT_ITEROVER)
		return git_fail(errmsg, "cannot read the index conflicts");
	git_error_clear();
	strv_sort_uniq(out);
	return 0;
}

/*
 * Merge two commits: the merged tree in *tree, or 1 with the conflicting
 * paths.  The trivial tree merge covers the usual case (disjoint changes);
 * anything else goes through libgit2's merge (renames, content merges).
 */
static int
merge_commits(struct gitops_repo *r, const git_oid *ours,
    const git_oid *theirs, git_oid *tree, struct strv *conflicts,
    char **errmsg)
{
	git_merge_options	 mopts;
	git_oidarray		 bases = { NULL, 0 };
	git_commit		*oc = NULL, *tc = NULL;
	git_index		*idx = NULL;
	git_oid			 bt, ot, tt;
	int			 error, empty, rc = -1;

	git_merge_options_init(&mopts, GIT_MERGE_OPTIONS_VERSION);
	error = git_merge_bases(&bases, r->git, ours, theirs);
	if (error < 0 && error != GIT_ENOTFOUND) {
		git_fail(errmsg, "cannot find a merge base");
		goto out;
	}
	git_error_clear();
	if (bases.count <= 1) {
		if ((bases.count == 1 &&
		    commit_tree_id(r, &bases.ids[0], &bt, errmsg) < 0) ||
		    commit_tree_id(r, ours, &ot, errmsg) < 0 ||
		    commit_tree_id(r, theirs, &tt, errmsg) < 0)
			goto out;
		error = merge_trees_trivial(r->git,
		    bases.count == 1 ? &bt : NULL, &ot, &tt, tree, &empty);
		if (error < 0) {
			git_fail(errmsg, "cannot merge trees");
			goto out;
		}
		if (error == 0) {
			if (empty && empty_tree_id(r->git, tree) < 0) {
				git_fail(errmsg, "cannot write the empty tree");
				goto out;
			}
			rc = 0;
			goto out;
		}
	}
	if (git_commit_lookup(&oc, r->git, ours) < 0 ||
	    git_commit_lookup(&tc, r->git, theirs) < 0 ||
	    git_merge_commits(&idx, r->git, oc, tc, &mopts) < 0) {
		git_fail(errmsg, "cannot merge");
		goto out;
	}
	if (git_index_has_conflicts(idx)) {
		if (index_conflict_paths(idx, conflicts, errmsg) < 0)
			goto out;
		rc = 1;
		goto out;
	}
	if (git_index_write_tree_to(tree, idx, r->git) < 0) {
		git_fail(errmsg, "cannot write the merged tree");
		goto out;
	}
	rc = 0;
out:
	git_index_free(idx);
	git_commit_free(oc);
	git_commit_free(tc);
	git_oidarray_dispose(&bases);
	return rc;
}

/*
 * Paths whose index entry is not as in from: a staged change, or an
 * unmerged path.  A checkout against the baseline would not see them.
 */
static int
index_blockers(struct gitops_repo *r, git_tree *from, struct strv *paths,
    struct strv *out, char **errmsg)
{
	git_index		*idx = NULL;
	git_tree_entry		*te;
	const git_index_entry	*ie;
	size_t			 i;
	int			 blocked;

	if (git_repository_index(&idx, r->git) < 0 ||
	    git_index_read(idx, 0) < 0) {
		git_index_free(idx);
		return git_fail(errmsg, "cannot read the index of \"%s\"",
		    r->workdir);
	}
	for (i = 0; i < paths->n; i++) {
		if (git_tree_entry_bypath(&te, from, paths->v[i]) < 0) {
			git_error_clear();
			te = NULL;
		}
		ie = git_index_get_bypath(idx, paths->v[i], 0);
		if (te == NULL || ie == NULL)
			blocked = (te == NULL) != (ie == NULL);
		else
			blocked = ie->mode != git_tree_entry_filemode(te) ||
			    !git_oid_equal(&ie->id, git_tree_entry_id(te));
		if (git_index_get_bypath(idx, paths->v[i], 1) != NULL ||
		    git_index_get_bypath(idx, paths->v[i], 2) != NULL ||
		    git_index_get_bypath(idx, paths->v[i], 3) != NULL)
			blocked = 1;
		if (blocked)
			strv_push(out, paths->v[i]);
		git_tree_entry_free(te);
	}
	git_index_free(idx);
	return 0;
}

static int
notify_conflict(git_checkout_notify_t why, const char *path,
    const git_diff_file *baseline, const git_diff_file *target,
    const git_diff_file *workdir, void *payload)
{
	(void)baseline;
	(void)target;
	(void)workdir;
	if (why == GIT_CHECKOUT_NOTIFY_CONFLICT)
		strv_push(payload, path);
	return 0;
}

enum checkout_how {
	CHECKOUT_APPLY,		/* update paths, refuse if something is in the way */
	CHECKOUT_RESTORE	/* force paths to the target */
};

/*
 * The direct checkout of a few changed paths.
 *
 * libgit2's checkout reads and writes the whole index (and checksums it
 * with SHA-1DC both times), whatever the number of paths; in the final
 * window that is most of the cost at 50,000 files.  Here the index file
 * is patched with gitindex and only the changed files are looked at and
 * written.  Anything unusual goes back to libgit2: an index format
 * gitindex does not know, unmerged or skip-worktree entries, submodules,
 * a case-insensitive or symlink-less repository, a path that turns from a
 * file into a directory or back.
 */

#define FAST_FALLBACK	2

struct fast_item {
	const char	*path;
	char		*full;
	git_tree_entry	*old;	/* in from; NULL: absent */
	git_tree_entry	*new;	/* in to; NULL: absent */
};

static int
config_bool(git_config *cfg, const char *key, int dflt)
{
	int	v;

	if (cfg == NULL || git_config_get_bool(&v, cfg, key) < 0)
		v = dflt;
	git_error_clear();
	return v;
}

/* Whether some file in the libgit2 search path of level is name. */
static int
search_path_has(int level, const char *name)
{
	git_buf	 buf = { NULL, 0, 0 };
	char	*list, *dir, *p, *save = NULL;
	int	 found = 0;

	if (git_libgit2_opts(GIT_OPT_GET_SEARCH_PATH, level, &buf) < 0) {
		git_error_clear();
		return 1;
	}
	list = xstrdup(buf.ptr != NULL ? buf.ptr : "");
	for (dir = strtok_r(list, ":", &save); dir != NULL && !found;
	    dir = strtok_r(NULL, ":", &save)) {
		p = join(dir, name);
		found = path_exists(p);
		free(p);
	}
	free(list);
	git_buf_dispose(&buf);
	return found;
}

/* Whether dir (relative, "" the root) has a .gitattributes anywhere. */
static int
dir_has_attributes(struct gitops_repo *r, git_tree *from, git_tree *to,
    const char *dir)
{
	git_tree_entry	*e = NULL;
	char		*rel, *full;
	int		 found;

	rel = join(dir, ".gitattributes");
	full = join(r->workdir, rel);
	found = path_exists(full);
	if (!found && git_tree_entry_bypath(&e, from, rel) == 0)
		found = 1;
	git_tree_entry_free(e);
	e = NULL;
	if (!found && git_tree_entry_bypath(&e, to, rel) == 0)
		found = 1;
	git_tree_entry_free(e);
	git_error_clear();
	free(rel);
	free(full);
	return found;
}

/*
 * Whether a checkout or clean filter (crlf, ident, a filter driver) could
 * apply to one of paths.  Asking libgit2 would load the whole index (its
 * attribute lookup reads .gitattributes from the index), so this looks
 * at every place attributes come from instead; when in doubt it says yes
 * and libgit2's filters are used.
 */
static int
filters_may_apply(struct gitops_repo *r, git_config *cfg, git_tree *from,
    git_tree *to, struct strv *paths)
{
	git_config_entry	*ce = NULL;
	struct strv		 dirs;
	char			*p, *dir, *slash;
	size_t			 i;
	int			 v, yes = 0;

	if (cfg == NULL)
		return 1;
	/* "input" is no boolean, and a conversion too. */
	if (git_config_get_entry(&ce, cfg, "core.autocrlf") == 0 &&
	    (git_config_parse_bool(&v, ce->value) < 0 || v))
		yes = 1;
	git_config_entry_free(ce);
	ce = NULL;
	if (!yes && git_config_get_entry(&ce, cfg, "core.attributesfile") == 0)
		yes = 1;
	git_config_entry_free(ce);
	git_error_clear();
	if (yes)
		return 1;
	p = join(git_repository_commondir(r->git), "info/attributes");
	yes = path_exists(p);
	free(p);
	if (yes || search_path_has(GIT_CONFIG_LEVEL_SYSTEM, "gitattributes") ||
	    search_path_has(GIT_CONFIG_LEVEL_XDG, "attributes") ||
	    dir_has_attributes(r, from, to, ""))
		return 1;
	/* Each directory once: a scan's thousand tables share one. */
	memset(&dirs, 0, sizeof(dirs));
	for (i = 0; i < paths->n; i++) {
		dir = xstrdup(paths->v[i]);
		while ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			strv_push(&dirs, dir);
		}
		free(dir);
	}
	strv_sort_unique(&dirs);
	for (i = 0; i < dirs.n && !yes; i++)
		yes = dir_has_attributes(r, from, to, dirs.v[i]);
	strv_release(&dirs);
	return yes;
}

static int
blob_or_link(const git_tree_entry *e)
{
	git_filemode_t	m = git_tree_entry_filemode(e);

	return m == GIT_FILEMODE_BLOB || m == GIT_FILEMODE_BLOB_EXECUTABLE ||
	    m == GIT_FILEMODE_LINK;
}

/* Whether the file at it->full still holds the content of it->old. */
static int
file_unchanged(struct gitops_repo *r, const struct gitindex *ix,
    const struct gitindex_entry *ie, const struct fast_item *it,
    const struct stat *sb, int filemode, int filters)
{
	git_filemode_t	 mode = git_tree_entry_filemode(it->old);
	git_oid		 oid;
	char		 target[4096];
	ssize_t		 n;

	if (mode == GIT_FILEMODE_LINK) {
		if (!S_ISLNK(sb->st_mode))
			return 0;
		if ((n = readlink(it->full, target, sizeof(target))) < 0 ||
		    git_odb_hash(&oid, target, (size_t)n, GIT_OBJECT_BLOB) < 0)
			return 0;
		return git_oid_equal(&oid, git_tree_entry_id(it->old));
	}
	if (!S_ISREG(sb->st_mode))
		return 0;
	if (filemode && ((sb->st_mode & 0100) != 0) !=
	    (mode == GIT_FILEMODE_BLOB_EXECUTABLE))
		return 0;
	/* The stat data the index recorded proves it, unless racy. */
	if (!gitindex_racy(ix, ie) && ie->size == (uint32_t)sb->st_size &&
	    ie->mtime_sec == (uint32_t)sb->st_mtim.tv_sec &&
	    ie->mtime_nsec == (uint32_t)sb->st_mtim.tv_nsec &&
	    ie->ino == (uint32_t)sb->st_ino)
		return 1;
	if ((filters ? git_repository_hashfile(&oid, r->git, it->full,
	    GIT_OBJECT_BLOB, it->path) : git_odb_hashfile(&oid, it->full,
	    GIT_OBJECT_BLOB)) < 0) {
		git_error_clear();
		return 0;
	}
	return git_oid_equal(&oid, git_tree_entry_id(it->old));
}

/*
 * What stands in the way of it: 0 nothing, 1 a conflict, FAST_FALLBACK a
 * case for libgit2.
 */
static int
fast_examine(struct gitops_repo *r, const struct gitindex *ix,
    const struct fast_item *it, int filemode, int filters)
{
	struct gitindex_entry	 ie;
	struct stat		 sb;
	int			 have;

	have = gitindex_get(ix, it->path, &ie);
	if (have && ie.special)
		return FAST_FALLBACK;
	/* The index must hold what from holds: no staged change. */
	if ((it->old == NULL) != !have)
		return 1;
	if (have && (ie.mode != git_tree_entry_filemode(it->old) ||
	    memcmp(ie.oid, git_tree_entry_id(it->old)->id, GITINDEX_OIDSZ)))
		return 1;
	if (lstat(it->full, &sb) == -1) {
		if (errno == ENOTDIR)
			return FAST_FALLBACK;
		if (errno != ENOENT)
			return 1;
		/* Deleted by the user: in the way unless we delete it too. */
		return it->old != NULL && it->new != NULL;
	}
	if (it->old == NULL)	/* an untracked file or directory in the way */
		return S_ISDIR(sb.st_mode) ? FAST_FALLBACK : 1;
	if (S_ISDIR(sb.st_mode))
		return FAST_FALLBACK;
	return !file_unchanged(r, ix, &ie, it, &sb, filemode, filters);
}

/* Remove the now empty directories above path, up to the workdir. */
static void
prune_parents(struct gitops_repo *r, const char *full)
{
	char	*dir = xstrdup(full), *slash;
	size_t	 root = strlen(r->workdir);

	while ((slash = strrchr(dir, '/')) != NULL &&
	    (size_t)(slash - dir) > root) {
		*slash = '\0';
		if (rmdir(dir) == -1)
			break;
	}
	free(dir);
}

static int
write_blob(struct gitops_repo *r, const struct fast_item *it, int filters,
    char **errmsg)
{
	git_blob_filter_options	 fo;
	git_blob		*blob = NULL;
	git_buf			 buf = { NULL, 0, 0 };
	git_filemode_t		 mode = git_tree_entry_filemode(it->new);
	const void		*data;
	struct stat		 sb;
	char			*dir, *slash, *target = NULL;
	size_t			 off, size;
	ssize_t			 n;
	int			 exec, fd = -1, rc = -1;

	dir = xstrdup(it->full);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if (mkpath(dir, 0777) == -1) {
		fail(errmsg, "cannot create \"%s\": %s", dir, strerror(errno));
		goto out;
	}
	if (git_blob_lookup(&blob, r->git, git_tree_entry_id(it->new)) < 0) {
		git_fail(errmsg, "cannot read the blob of \"%s\"", it->path);
		goto out;
	}
	/*
	 * Files are rewritten in place: on ext4 an unlink and a create cost
	 * thirty times as much, and a truncation to zero makes close() wait
	 * for the new blocks (auto_da_alloc), so the new content is written
	 * over the old and the file cut to its length.  A symlink, or a file
	 * where a symlink was, is replaced.
	 */
	if ((mode == GIT_FILEMODE_LINK || (lstat(it->full, &sb) == 0 &&
	    !S_ISREG(sb.st_mode))) && unlink(it->full) == -1 &&
	    errno != ENOENT) {
		fail(errmsg, "cannot replace \"%s\": %s", it->full,
		    strerror(errno));
		goto out;
	}
	if (mode == GIT_FILEMODE_LINK) {
		target = xstrndup(git_blob_rawcontent(blob),
		    (size_t)git_blob_rawsize(blob));
		if (symlink(target, it->full) == -1) {
			fail(errmsg, "cannot create \"%s\": %s", it->full,
			    strerror(errno));
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (filters) {
		git_blob_filter_options_init(&fo,
		    GIT_BLOB_FILTER_OPTIONS_VERSION);
		fo.flags = 0;
		if (git_blob_filter(&buf, blob, it->path, &fo) < 0) {
			git_fail(errmsg, "cannot filter \"%s\"", it->path);
			goto out;
		}
		data = buf.ptr;
		size = buf.size;
	} else {
		data = git_blob_rawcontent(blob);
		size = (size_t)git_blob_rawsize(blob);
	}
	exec = mode == GIT_FILEMODE_BLOB_EXECUTABLE;
	if ((fd = open(it->full, O_WRONLY | O_CREAT, exec ? 0777 : 0666)) ==
	    -1 || fstat(fd, &sb) == -1) {
		fail(errmsg, "cannot create \"%s\": %s", it->full,
		    strerror(errno));
		goto out;
	}
	/* An existing file keeps its mode: set the executable bits. */
	if (((sb.st_mode & 0100) != 0) != exec && fchmod(fd, exec ?
	    sb.st_mode | ((sb.st_mode & 0444) >> 2) : sb.st_mode & ~0111) ==
	    -1) {
		fail(errmsg, "cannot chmod \"%s\": %s", it->full,
		    strerror(errno));
		goto out;
	}
	for (off = 0; off < size; off += (size_t)n) {
		if ((n = write(fd, (const char *)data + off, size - off)) <= 0) {
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			fail(errmsg, "cannot write \"%s\": %s", it->full,
			    strerror(errno));
			goto out;
		}
	}
	if ((off_t)size < sb.st_size && ftruncate(fd, (off_t)size) == -1) {
		fail(errmsg, "cannot write \"%s\": %s", it->full,
		    strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		fail(errmsg, "cannot write \"%s\": %s", it->full,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	git_buf_dispose(&buf);
	git_blob_free(blob);
	free(target);
	free(dir);
	return rc;
}

/* Called once nothing stands in the way, before the first write. */
struct checkout_hook {
	int	(*fn)(void *, char **);
	void	*arg;
	int	 called;
};

static int
run_hook(struct checkout_hook *hook, char **errmsg)
{
	if (hook == NULL)
		return 0;
	hook->called = 1;
	return hook->fn(hook->arg, errmsg);
}

/*
 * checkout_paths' APPLY; FAST_FALLBACK when libgit2 has to do it.  A
 * failure after the first write leaves the caller to restore.
 */
static int
fast_checkout(struct gitops_repo *r, git_tree *from, git_tree *to,
    struct strv *paths, struct strv *conflicts, struct checkout_hook *hook,
    char **errmsg)
{
	struct gitindex		 ix;
	struct gitindex_update	*upd = NULL;
	struct fast_item	*items;
	git_config		*cfg = NULL;
	char			*ipath;
	size_t			 i, nu = 0;
	int			 filemode, symlinks, filters, e, rc = -1;

	items = xcalloc(paths->n, sizeof(*items));
	xasprintf(&ipath, "%s/index", r->gitdir);
	if ((e = gitindex_load(&ix, ipath, errmsg)) != 0) {
		rc = e == GITINDEX_UNSUPPORTED ? FAST_FALLBACK : -1;
		goto out;
	}
	if (git_repository_config_snapshot(&cfg, r->git) < 0) {
		git_error_clear();
		cfg = NULL;
	}
	if (ix.unmerged || config_bool(cfg, "core.ignorecase", 0)) {
		rc = FAST_FALLBACK;
		goto out;
	}
	filemode = config_bool(cfg, "core.filemode", 1);
	symlinks = config_bool(cfg, "core.symlinks", 1);
	filters = filters_may_apply(r, cfg, from, to, paths);
	for (i = 0; i < paths->n; i++) {
		items[i].path = paths->v[i];
		items[i].full = join(r->workdir, paths->v[i]);
		if (git_tree_entry_bypath(&items[i].old, from, paths->v[i]) < 0)
			items[i].old = NULL;
		if (git_tree_entry_bypath(&items[i].new, to, paths->v[i]) < 0)
			items[i].new = NULL;
		git_error_clear();
		if ((items[i].old != NULL && !blob_or_link(items[i].old)) ||
		    (items[i].new != NULL && !blob_or_link(items[i].new)) ||
		    (!symlinks && ((items[i].old != NULL &&
		    git_tree_entry_filemode(items[i].old) == GIT_FILEMODE_LINK) ||
		    (items[i].new != NULL && git_tree_entry_filemode(items[i].new)
		    == GIT_FILEMODE_LINK)))) {
			rc = FAST_FALLBACK;
			goto out;
		}
	}
	for (i = 0; i < paths->n; i++) {
		if ((e = fast_examine(r, &ix, &items[i], filemode,
		    filters)) == FAST_FALLBACK) {
			rc = FAST_FALLBACK;
			goto out;
		}
		if (e == 1)
			strv_push(conflicts, items[i].path);
	}
	if (conflicts->n > 0) {
		rc = 1;
		goto out;
	}
	if (run_hook(hook, errmsg) < 0)
		goto out;

	/* Nothing in the way: deletions first, then the new content. */
	upd = xcalloc(paths->n, sizeof(*upd));
	for (i = 0; i < paths->n; i++) {
		if (items[i].new != NULL)
			continue;
		if (unlink(items[i].full) == -1 && errno != ENOENT) {
			fail(errmsg, "cannot remove \"%s\": %s", items[i].full,
			    strerror(errno));
			goto out;
		}
		prune_parents(r, items[i].full);
	}
	for (i = 0; i < paths->n; i++) {
		upd[nu].path = items[i].path;
		if (items[i].new == NULL) {
			if (items[i].old != NULL)
				upd[nu++].remove = 1;
			continue;
		}
		if (write_blob(r, &items[i], filters, errmsg) < 0)
			goto out;
		if (lstat(items[i].full, &upd[nu].st) == -1) {
			fail(errmsg, "cannot stat \"%s\": %s", items[i].full,
			    strerror(errno));
			goto out;
		}
		memcpy(upd[nu].oid, git_tree_entry_id(items[i].new)->id,
		    GITINDEX_OIDSZ);
		upd[nu++].mode = git_tree_entry_filemode(items[i].new);
	}
	if (gitindex_write(&ix, upd, nu, errmsg) < 0)
		goto out;
	rc = 0;
out:
	for (i = 0; i < paths->n; i++) {
		free(items[i].full);
		git_tree_entry_free(items[i].old);
		git_tree_entry_free(items[i].new);
	}
	free(items);
	free(upd);
	free(ipath);
	git_config_free(cfg);
	gitindex_release(&ix);
	return rc;
}

/* libgit2's checkout of paths, SAFE (with dry_run: only the check) or FORCE. */
static int
libgit2_checkout(struct gitops_repo *r, git_tree *from, git_tree *to,
    struct strv *paths, enum checkout_how how, int dry_run,
    struct strv *conflicts, char **errmsg)
{
	git_checkout_options	 opts;
	int			 error;

	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.paths.strings = paths->v;
	opts.paths.count = paths->n;
	opts.baseline = from;
	opts.checkout_strategy = GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
	if (how == CHECKOUT_RESTORE)
		opts.checkout_strategy |= GIT_CHECKOUT_FORCE |
		    GIT_CHECKOUT_REMOVE_UNTRACKED;
	else {
		opts.checkout_strategy |= GIT_CHECKOUT_SAFE;
		opts.notify_flags = GIT_CHECKOUT_NOTIFY_CONFLICT;
		opts.notify_cb = notify_conflict;
		opts.notify_payload = conflicts;
	}
	if (dry_run)
		opts.checkout_strategy |= GIT_CHECKOUT_DRY_RUN |
		    GIT_CHECKOUT_DONT_WRITE_INDEX;
	error = git_checkout_tree(r->git, (const git_object *)to, &opts);
	if (error == GIT_ECONFLICT && conflicts->n > 0) {
		git_error_clear();
		strv_sort_uniq(conflicts);
		return 1;
	}
	if (error < 0)
		return git_fail(errmsg, "cannot update the files of \"%s\"",
		    r->workdir);
	return 0;
}

/*
 * Bring the files and index entries of paths from tree from to tree to.
 * APPLY returns 1 with the paths in conflicts when a file, an untracked
 * file or an index entry of one of them is not as in from; then nothing
 * was written.  Once nothing stands in the way and before anything is
 * written, hook (may be NULL) runs; its failure stops the checkout.
 * RESTORE forces the paths to to.
 */
static int
checkout_paths(struct gitops_repo *r, git_tree *from, git_tree *to,
    struct strv *paths, enum checkout_how how, struct strv *conflicts,
    struct checkout_hook *hook, char **errmsg)
{
	struct strv	none = { 0 };
	int		rc;

	/* An empty path list would mean every path to libgit2. */
	if (paths->n == 0)
		return run_hook(hook, errmsg);
	if (how == CHECKOUT_RESTORE) {
		rc = libgit2_checkout(r, from, to, paths, how, 0, &none, errmsg);
		strv_release(&none);
		return rc;
	}
	rc = fast_checkout(r, from, to, paths, conflicts, hook, errmsg);
	if (rc != FAST_FALLBACK)
		return rc;
	strv_release(conflicts);
	if (index_blockers(r, from, paths, conflicts, errmsg) < 0)
		return -1;
	if (conflicts->n > 0)
		return 1;
	if (hook != NULL) {
		rc = libgit2_checkout(r, from, to, paths, how, 1, conflicts,
		    errmsg);
		if (rc != 0)
			return rc;
		if (run_hook(hook, errmsg) < 0)
			return -1;
	}
	return libgit2_checkout(r, from, to, paths, how, 0, conflicts, errmsg);
}

/* Commits. */

/* The mode a file on disk gets in a tree. */
static git_filemode_t
disk_mode(const struct stat *sb)
{
	if (S_ISLNK(sb->st_mode))
		return GIT_FILEMODE_LINK;
	return sb->st_mode & 0111 ? GIT_FILEMODE_BLOB_EXECUTABLE :
	    GIT_FILEMODE_BLOB;
}

/* From this many files a commit writes its new blobs as one pack. */
#define PACK_MIN_BLOBS	64

/*
 * A file's content as a blob: read and written as it is (no filter), into
 * pw when given unless it is the blob have (the path's in HEAD), else as a
 * loose object.  Not asked of the object database: every miss there
 * rescans the pack directory.
 */
static int
blob_from_file(struct gitops_repo *r, const char *full, const struct stat *sb,
    git_oid *blob, struct packwrite *pw, const git_tree_entry *have)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd, rc = -1;

	if ((fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	buf = xmalloc((size_t)sb->st_size + 1);
	while (len < (size_t)sb->st_size &&
	    ((n = read(fd, buf + len, (size_t)sb->st_size - len)) > 0 ||
	    (n == -1 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	if (len != (size_t)sb->st_size)
		goto out;
	if (pw == NULL)
		rc = git_blob_create_from_buffer(blob, r->git, buf, len);
	else if ((rc = git_odb_hash(blob, buf, len, GIT_OBJECT_BLOB)) == 0 &&
	    (have == NULL || !git_oid_equal(blob, git_tree_entry_id(have))))
		rc = packwrite_add_blob(pw, buf, len, blob);
out:
	close(fd);
	free(buf);
	return rc;
}

static int
update_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gitindex_update *)a)->path,
	    ((const struct gitindex_update *)b)->path);
}

/*
 * The index follows the commit for these paths, written by gitindex:
 * 0, or FAST_FALLBACK when libgit2 has to do it (an index gitindex does
 * not handle, staged entries, a path given twice), -1 on error.
 */
static int
index_paths_fast(struct gitops_repo *r, struct gitindex_update *iu, size_t n,
    char **errmsg)
{
	struct gitindex	 ix;
	char		*ipath;
	size_t		 i;
	int		 e, rc = FAST_FALLBACK;

	qsort(iu, n, sizeof(*iu), update_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(iu[i - 1].path, iu[i].path) == 0)
			return FAST_FALLBACK;
	xasprintf(&ipath, "%s/index", r->gitdir);
	if ((e = gitindex_load(&ix, ipath, errmsg)) != 0) {
		if (e != GITINDEX_UNSUPPORTED)
			rc = -1;
		goto out;
	}
	if (!ix.unmerged)
		rc = gitindex_write(&ix, iu, n, errmsg) < 0 ? -1 : 0;
out:
	/* After a failed load too: it keeps the path until released. */
	gitindex_release(&ix);
	if (rc == FAST_FALLBACK) {
		free(*errmsg);
		*errmsg = NULL;
	}
	free(ipath);
	return rc;
}

int
gitops_commit_paths(struct gitops_repo *r, const char *const *paths,
    size_t npaths, const char *message, const struct gitops_ident *author,
    char *hex, int *created, char **errmsg)
{
	git_tree_update		*upd = NULL;
	struct gitindex_update	*iu = NULL;
	struct packwrite	 pw = { NULL, 0, 0, NULL, 0, 0 };
	git_odb			*odb = NULL;
	git_tree		*head_tree = NULL;
	git_tree_entry		*te;
	git_index		*idx = NULL;
	git_config		*cfg = NULL;
	git_oid			 head, tree_id, commit, blob;
	git_filemode_t		 mode;
	struct strv		 pathv;
	struct stat		 sb;
	char			*refname = NULL, *full, *log = NULL;
	size_t			 i, n = 0;
	int			 unborn, filters, fast, e = 0, rc = -1;

	*created = 0;
	memset(&pathv, 0, sizeof(pathv));
	if (head_branch(r, &refname, &head, &unborn, errmsg) < 0)
		goto out;
	if (!unborn && (commit_tree_id(r, &head, &tree_id, errmsg) < 0 ||
	    lookup_tree(r, &tree_id, &head_tree, errmsg) < 0))
		goto out;
	/*
	 * Without a filter that could apply, a file is read and written as
	 * it is, and the stat taken before the read goes into the index: a
	 * scan's thousands of files each had their attributes looked up,
	 * their blob written, then all of it again by git_index_add_bypath.
	 */
	for (i = 0; i < npaths; i++)
		strv_push(&pathv, paths[i]);
	if (git_repository_config_snapshot(&cfg, r->git) < 0) {
		git_error_clear();
		cfg = NULL;
	}
	filters = head_tree == NULL || filters_may_apply(r, cfg, head_tree,
	    head_tree, &pathv);
	fast = !filters;
	/* Many files: their new blobs go in one pack (packwrite.h). */
	if (fast && npaths >= PACK_MIN_BLOBS &&
	    git_repository_odb(&odb, r->git) < 0) {
		git_fail(errmsg, "cannot open the object database");
		goto out;
	}
	upd = xcalloc(npaths, sizeof(*upd));
	iu = xcalloc(npaths, sizeof(*iu));
	for (i = 0; i < npaths; i++) {
		if (head_tree == NULL ||
		    git_tree_entry_bypath(&te, head_tree, paths[i]) < 0) {
			git_error_clear();
			te = NULL;
		}
		full = join(r->workdir, paths[i]);
		if (lstat(full, &sb) == 0) {
			mode = disk_mode(&sb);
			if ((filters || mode == GIT_FILEMODE_LINK ||
			    !S_ISREG(sb.st_mode) ? git_blob_create_from_workdir(
			    &blob, r->git, paths[i]) : blob_from_file(r, full,
			    &sb, &blob, odb != NULL ? &pw : NULL, te)) < 0) {
				git_fail(errmsg, "cannot add \"%s\"", paths[i]);
				free(full);
				git_tree_entry_free(te);
				goto out;
			}
			if (mode == GIT_FILEMODE_LINK || !S_ISREG(sb.st_mode))
				fast = 0;
			if (te == NULL || git_tree_entry_filemode(te) != mode ||
			    !git_oid_equal(git_tree_entry_id(te), &blob)) {
				upd[n].action = GIT_TREE_UPDATE_UPSERT;
				git_oid_cpy(&upd[n].id, &blob);
				upd[n].filemode = mode;
				iu[n].st = sb;
				memcpy(iu[n].oid, blob.id, GITINDEX_OIDSZ);
				iu[n].mode = mode;
				iu[n].path = paths[i];
				upd[n++].path = paths[i];
			}
		} else if (te != NULL) {
			upd[n].action = GIT_TREE_UPDATE_REMOVE;
			iu[n].remove = 1;
			iu[n].path = paths[i];
			upd[n++].path = paths[i];
		}
		free(full);
		git_tree_entry_free(te);
	}
	if (n == 0) {
		if (unborn)
			hex[0] = '\0';
		else
			oid_hex(hex, &head);
		rc = 0;
		goto out;
	}
	if (odb != NULL && packwrite_commit(&pw, odb, errmsg) < 0)
		goto out;
	if (git_tree_create_updated(&tree_id, r->git, head_tree, n, upd) < 0) {
		git_fail(errmsg, "cannot write a tree");
		goto out;
	}
	if (write_commit(r, &commit, &tree_id, &head, unborn ? 0 : 1, message,
	    author, errmsg) < 0)
		goto out;
	log = reflog_msg(unborn ? "commit (initial)" : "commit", message);
	if (move_ref(r, refname, &commit, unborn ? NULL : &head, log,
	    errmsg) < 0)
		goto out;
	/* The index follows for these paths only. */
	if (fast && (e = index_paths_fast(r, iu, n, errmsg)) < 0)
		goto out;
	if (fast && e == 0) {
		oid_hex(hex, &commit);
		*created = 1;
		rc = 0;
		goto out;
	}
	if (git_repository_index(&idx, r->git) < 0 ||
	    git_index_read(idx, 0) < 0) {
		git_fail(errmsg, "cannot read the index");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((upd[i].action == GIT_TREE_UPDATE_UPSERT ?
		    git_index_add_bypath(idx, upd[i].path) :
		    git_index_remove_bypath(idx, upd[i].path)) < 0) {
			git_fail(errmsg, "cannot update \"%s\" in the index",
			    upd[i].path);
			goto out;
		}
	}
	if (git_index_write(idx) < 0) {
		git_fail(errmsg, "cannot write the index");
		goto out;
	}
	oid_hex(hex, &commit);
	*created = 1;
	rc = 0;
out:
	packwrite_release(&pw);
	git_odb_free(odb);
	git_index_free(idx);
	git_tree_free(head_tree);
	git_config_free(cfg);
	strv_release(&pathv);
	free(upd);
	free(iu);
	free(log);
	free(refname);
	return rc;
}

int
gitops_commit_all(struct gitops_repo *r, const char *message,
    const struct gitops_ident *author, char *hex, int *created,
    char **errmsg)
{
	git_index	*idx = NULL;
	git_oid		 head, head_tree, tree, commit;
	char		*refname = NULL, *log = NULL;
	int		 unborn, rc = -1;

	*created = 0;
	if (head_branch(r, &refname, &head, &unborn, errmsg) < 0)
		goto out;
	if (git_repository_index(&idx, r->git) < 0 ||
	    git_index_read(idx, 0) < 0) {
		git_fail(errmsg, "cannot read the index of \"%s\"", r->workdir);
		goto out;
	}
	if (git_index_add_all(idx, NULL, GIT_INDEX_ADD_DEFAULT, NULL,
	    NULL) < 0 || git_index_update_all(idx, NULL, NULL, NULL) < 0) {
		git_fail(errmsg, "cannot add the changes of \"%s\"", r->workdir);
		goto out;
	}
	if (git_index_write_tree(&tree, idx) < 0 || git_index_write(idx) < 0) {
		git_fail(errmsg, "cannot write the index of \"%s\"", r->workdir);
		goto out;
	}
	if (!unborn) {
		if (commit_tree_id(r, &head, &head_tree, errmsg) < 0)
			goto out;
		if (git_oid_equal(&head_tree, &tree)) {
			oid_hex(hex, &head);
			rc = 0;
			goto out;
		}
	}
	if (write_commit(r, &commit, &tree, &head, unborn ? 0 : 1, message,
	    author, errmsg) < 0)
		goto out;
	log = reflog_msg(unborn ? "commit (initial)" : "commit", message);
	if (move_ref(r, refname, &commit, unborn ? NULL : &head, log,
	    errmsg) < 0)
		goto out;
	oid_hex(hex, &commit);
	*created = 1;
	rc = 0;
out:
	free(log);
	free(refname);
	git_index_free(idx);
	return rc;
}

/* Refresh. */

void
gitops_refresh_release(struct gitops_refresh *res)
{
	strv_release(&res->conflicts);
	memset(res, 0, sizeof(*res));
}

/* A hook that only records that the checkout is about to write. */
static int
about_to_write(void *arg, char **errmsg)
{
	(void)arg;
	(void)errmsg;
	return 0;
}

int
gitops_refresh(struct gitops_repo *r, const char *commit,
    struct gitops_refresh *res, char **errmsg)
{
	struct checkout_hook hook = { about_to_write, NULL, 0 };
	struct strv	 paths = { 0 };
	git_tree	*from = NULL, *to = NULL;
	git_oid		 head, theirs, new_commit, from_id, to_id, parents[2];
	char		*refname = NULL, *msg = NULL, *log = NULL, hex[GITOPS_HEXSZ + 1];
	int		 unborn, r2, rc = -1;

	memset(res, 0, sizeof(*res));
	if (head_branch(r, &refname, &head, &unborn, errmsg) < 0)
		goto out;
	if (unborn) {
		fail(errmsg, "\"%s\" has no commit to refresh", refname);
		goto out;
	}
	if (resolve_commit(r, commit, &theirs, errmsg) < 0)
		goto out;
	oid_hex(res->head, &head);
	if (git_oid_equal(&head, &theirs) ||
	    git_graph_descendant_of(r->git, &head, &theirs) == 1) {
		res->status = GITOPS_REFRESH_UNCHANGED;
		rc = 0;
		goto out;
	}
	if (commit_tree_id(r, &head, &from_id, errmsg) < 0)
		goto out;
	oid_hex(hex, &theirs);
	if (git_graph_descendant_of(r->git, &theirs, &head) == 1) {
		res->fast_forward = 1;
		git_oid_cpy(&new_commit, &theirs);
		if (commit_tree_id(r, &theirs, &to_id, errmsg) < 0)
			goto out;
		xasprintf(&log, "merge %s: Fast-forward", hex);
	} else {
		r2 = merge_commits(r, &head, &theirs, &to_id, &res->conflicts,
		    errmsg);
		if (r2 < 0)
			goto out;
		if (r2 == 1) {
			res->status = GITOPS_REFRESH_CONFLICT;
			rc = 0;
			goto out;
		}
		xasprintf(&msg, "Merge commit '%s' into %s", hex,
		    strncmp(refname, "refs/heads/", 11) == 0 ?
		    refname + 11 : refname);
		git_oid_cpy(&parents[0], &head);
		git_oid_cpy(&parents[1], &theirs);
		if (write_commit(r, &new_commit, &to_id, parents, 2, msg, NULL,
		    errmsg) < 0)
			goto out;
		xasprintf(&log, "merge %s: Merge made by libgit2", hex);
	}
	if (lookup_tree(r, &from_id, &from, errmsg) < 0 ||
	    lookup_tree(r, &to_id, &to, errmsg) < 0 ||
	    changed_paths(r, from, to, &paths, errmsg) < 0)
		goto out;
	r2 = checkout_paths(r, from, to, &paths, CHECKOUT_APPLY,
	    &res->conflicts, &hook, errmsg);
	if (r2 < 0) {
		if (hook.called)
			goto restore;
		goto out;
	}
	if (r2 == 1) {
		res->status = GITOPS_REFRESH_CONFLICT;
		rc = 0;
		goto out;
	}
	if (move_ref(r, refname, &new_commit, &head, log, errmsg) < 0)
		goto restore;
	res->status = GITOPS_REFRESH_CHANGED;
	oid_hex(res->head, &new_commit);
	rc = 0;
	goto out;
restore:
	/* Put back what a failed update may have written. */
	checkout_paths(r, to, from, &paths, CHECKOUT_RESTORE, NULL, NULL, NULL);
out:
	strv_release(&paths);
	git_tree_free(from);
	git_tree_free(to);
	free(refname);
	free(msg);
	free(log);
	return rc;
}

/* The clean check. */

int
gitops_check_clean(struct gitops_repo *r, char **errmsg)
{
	static const struct {
		const char	*rel;
		const char	*label;
	} markers[] = {
		{ "MERGE_HEAD", "MERGE_HEAD" },
		{ "REBASE_HEAD", "REBASE_HEAD" },
		{ "CHERRY_PICK_HEAD", "CHERRY_PICK_HEAD" },
		{ "REVERT_HEAD", "REVERT_HEAD" },
		{ "sequencer/todo", "sequencer (interrupted multi-commit op)" },
		{ "rebase-merge", "rebase-merge" },
		{ "rebase-apply", "rebase-apply" },
	};
	struct strv	 unmerged = { 0 };
	struct gitindex	 ix = { 0 };
	git_index	*idx = NULL;
	char		*path, *list = NULL, *tmp;
	size_t		 i;
	int		 e, rc = -1;

	for (i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		path = join(r->gitdir, markers[i].rel);
		if (path_exists(path)) {
			fail(errmsg, "Worktree has in-progress git operation "
			    "(%s present at %s); refusing to proceed",
			    markers[i].label, path);
			free(path);
			goto out;
		}
		free(path);
	}
	/* The index file directly: libgit2 would parse all of it. */
	xasprintf(&path, "%s/index", r->gitdir);
	e = gitindex_load(&ix, path, errmsg);
	free(path);
	if (e == 0)
		gitindex_unmerged(&ix, &unmerged);
	else if (e == GITINDEX_UNSUPPORTED) {
		if (git_repository_index(&idx, r->git) < 0 ||
		    git_index_read(idx, 0) < 0) {
			git_fail(errmsg, "cannot read the index of \"%s\"",
			    r->workdir);
			goto out;
		}
		if (git_index_has_conflicts(idx) &&
		    index_conflict_paths(idx, &unmerged, errmsg) < 0)
			goto out;
	} else
		goto out;
	if (unmerged.n > 0) {
		list = xstrdup(unmerged.v[0]);
		for (i = 1; i < unmerged.n && i < 5; i++) {
			xasprintf(&tmp, "%s, %s", list, unmerged.v[i]);
			free(list);
			list = tmp;
		}
		fail(errmsg, "Worktree has %zu unmerged path(s): %s; refusing "
		    "to proceed", unmerged.n, list);
		goto out;
	}
	rc = 0;
out:
	free(list);
	strv_release(&unmerged);
	gitindex_release(&ix);
	git_index_free(idx);
	return rc;
}

/* The squash and its journal. */

void
gitops_squash_release(struct gitops_squash *res)
{
	strv_release(&res->touched);
	strv_release(&res->conflicts);
	memset(res, 0, sizeof(*res));
}

static char *
journal_path(struct gitops_repo *r)
{
	return join(r->gitdir, JOURNAL_NAME);
}

/* Write the journal atomically: a temporary file renamed over it. */
static int
journal_write(struct gitops_repo *r, const char *refname, const git_oid *old,
    const git_oid *new, char **errmsg)
{
	char	*path, *tmp, oh[GITOPS_HEXSZ + 1], nh[GITOPS_HEXSZ + 1];
	FILE	*f;
	int	 rc = -1;

	path = journal_path(r);
	xasprintf(&tmp, "%s.tmp", path);
	oid_hex(oh, old);
	oid_hex(nh, new);
	if ((f = fopen(tmp, "w")) == NULL) {
		fail(errmsg, "cannot create \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	fprintf(f, "%s\nref %s\nold %s\nnew %s\n", JOURNAL_MAGIC, refname, oh,
	    nh);
	if (fclose(f) == EOF) {
		fail(errmsg, "cannot write \"%s\": %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) == -1) {
		fail(errmsg, "cannot rename \"%s\": %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(path);
	return rc;
}

static int
journal_remove(struct gitops_repo *r, char **errmsg)
{
	char	*path = journal_path(r);
	int	 rc = 0;

	if (unlink(path) == -1 && errno != ENOENT)
		rc = fail(errmsg, "cannot remove \"%s\": %s", path,
		    strerror(errno));
	free(path);
	return rc;
}

/* Read the journal: 0 with its fields, 1 when there is none. */
static int
journal_read(struct gitops_repo *r, char **refname, git_oid *old,
    git_oid *new, char **errmsg)
{
	char	*path, line[4096], oh[GITOPS_HEXSZ + 1], nh[GITOPS_HEXSZ + 1];
	char	 ref[4096];
	FILE	*f;
	int	 rc = -1;

	path = journal_path(r);
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			rc = 1;
		else
			fail(errmsg, "cannot open \"%s\": %s", path,
			    strerror(errno));
		goto out;
	}
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, JOURNAL_MAGIC "\n") != 0 ||
	    fscanf(f, "ref %4095s\nold %40s\nnew %40s\n", ref, oh, nh) != 3 ||
	    git_oid_fromstr(old, oh) < 0 || git_oid_fromstr(new, nh) < 0) {
		fail(errmsg, "\"%s\" is not a squash journal", path);
		goto out;
	}
	*refname = xstrdup(ref);
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(path);
	return rc;
}

int
gitops_recover_squash(struct gitops_repo *r, int *recovered, char **errmsg)
{
	struct strv	 paths = { 0 };
	git_tree	*ot = NULL, *nt = NULL;
	git_oid		 old, new, cur, oti, nti;
	char		*refname = NULL;
	int		 j, rc = -1;

	if (recovered != NULL)
		*recovered = 0;
	if ((j = journal_read(r, &refname, &old, &new, errmsg)) != 0) {
		rc = j == 1 ? 0 : -1;
		goto out;
	}
	if (recovered != NULL)
		*recovered = 1;
	if (git_reference_name_to_id(&cur, r->git, refname) < 0) {
		git_fail(errmsg, "cannot resolve \"%s\"", refname);
		goto out;
	}
	if (git_oid_equal(&cur, &old)) {
		/* Killed before the branch moved: put the paths back. */
		if (commit_tree_id(r, &old, &oti, errmsg) < 0 ||
		    commit_tree_id(r, &new, &nti, errmsg) < 0 ||
		    lookup_tree(r, &oti, &ot, errmsg) < 0 ||
		    lookup_tree(r, &nti, &nt, errmsg) < 0 ||
		    changed_paths(r, ot, nt, &paths, errmsg) < 0 ||
		    checkout_paths(r, nt, ot, &paths, CHECKOUT_RESTORE, NULL,
		    NULL, errmsg) < 0)
			goto out;
	}
	/*
	 * The branch moved (the squash completed but for this unlink), or
	 * someone moved it elsewhere since: either way the files are not
	 * ours to touch any more.
	 */
	if (journal_remove(r, errmsg) < 0)
		goto out;
	rc = 0;
out:
	strv_release(&paths);
	git_tree_free(ot);
	git_tree_free(nt);
	free(refname);
	return rc;
}

/* What the squash writes once the checkout knows nothing is in the way. */
struct squash_prep {
	struct gitops_repo		*r;
	const char			*refname;
	const git_oid			*old;
	const git_oid			*tree;
	git_oid				*commit;
	const char			*message;
	const struct gitops_ident	*author;
	int				 journaled;
};

static int
squash_prepare(void *arg, char **errmsg)
{
	struct squash_prep	*p = arg;

	if (write_commit(p->r, p->commit, p->tree, p->old, 1, p->message,
	    p->author, errmsg) < 0 ||
	    journal_write(p->r, p->refname, p->old, p->commit, errmsg) < 0)
		return -1;
	p->journaled = 1;
	return 0;
}

int
gitops_squash(struct gitops_repo *r, const char *session_commit,
    const char *message, const struct gitops_ident *author,
    struct gitops_squash *res, char **errmsg)
{
	struct squash_prep	 prep = { 0 };
	struct checkout_hook	 hook = { NULL, NULL, 0 };
	git_tree	*ot = NULL, *nt = NULL;
	git_oid		 old, sess, oti, nti, commit;
	char		*refname = NULL, *log = NULL, hex[GITOPS_HEXSZ + 1];
	int		 unborn, r2, rc = -1;

	memset(res, 0, sizeof(*res));
	if (gitops_recover_squash(r, NULL, errmsg) < 0)
		goto out;
	if (head_branch(r, &refname, &old, &unborn, errmsg) < 0)
		goto out;
	if (unborn) {
		fail(errmsg, "\"%s\" has no commit to squash onto", refname);
		goto out;
	}
	oid_hex(res->parent, &old);
	if (resolve_commit(r, session_commit, &sess, errmsg) < 0)
		goto out;
	if (!git_oid_equal(&sess, &old) &&
	    git_graph_descendant_of(r->git, &sess, &old) != 1) {
		oid_hex(hex, &sess);
		fail(errmsg, "session commit %s does not contain %s at %s; "
		    "refresh the session first", hex, refname, res->parent);
		goto out;
	}
	if (commit_tree_id(r, &old, &oti, errmsg) < 0 ||
	    commit_tree_id(r, &sess, &nti, errmsg) < 0)
		goto out;
	if (git_oid_equal(&oti, &nti)) {
		res->status = GITOPS_SQUASH_EMPTY;
		rc = 0;
		goto out;
	}
	if (lookup_tree(r, &oti, &ot, errmsg) < 0 ||
	    lookup_tree(r, &nti, &nt, errmsg) < 0 ||
	    changed_paths(r, ot, nt, &res->touched, errmsg) < 0)
		goto out;

	/*
	 * Nothing is written before we know nothing stands in the way; then
	 * the commit object and the journal, then the files, then the ref.
	 */
	prep.r = r;
	prep.refname = refname;
	prep.old = &old;
	prep.tree = &nti;
	prep.commit = &commit;
	prep.message = message;
	prep.author = author;
	hook.fn = squash_prepare;
	hook.arg = &prep;
	r2 = checkout_paths(r, ot, nt, &res->touched, CHECKOUT_APPLY,
	    &res->conflicts, &hook, errmsg);
	if (r2 == 1) {
		/* Nothing was written (an edit may have landed since the check). */
		res->status = GITOPS_SQUASH_CONFLICT;
		rc = prep.journaled ? journal_remove(r, errmsg) : 0;
		goto out;
	}
	if (r2 < 0) {
		if (prep.journaled)
			goto rollback;
		goto out;
	}
	/* Journal and files written, main not moved yet. */
	failpoint("squash");
	log = reflog_msg("commit (squash)", message);
	if (move_ref(r, refname, &commit, &old, log, errmsg) < 0)
		goto rollback;
	if (journal_remove(r, errmsg) < 0)
		goto out;
	res->status = GITOPS_SQUASH_COMMITTED;
	oid_hex(res->commit, &commit);
	rc = 0;
	goto out;
rollback:
	/* The branch did not move: put the files back and drop the journal. */
	if (checkout_paths(r, nt, ot, &res->touched, CHECKOUT_RESTORE, NULL,
	    NULL, NULL) == 0)
		journal_remove(r, NULL);
out:
	git_tree_free(ot);
	git_tree_free(nt);
	free(refname);
	free(log);
	return rc;
}

/* Session worktrees. */

void
gitops_session_release(struct gitops_session *s)
{
	free(s->key);
	free(s->path);
	free(s->branch);
	memset(s, 0, sizeof(*s));
}

static int
safe_token(const char *s)
{
	size_t	i;

	if (s[0] == '\0' || strchr(".-_", s[0]) != NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i]) != NULL))
			return 0;
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
	}
	return i <= 200 && strcmp(s + i - (i >= 5 ? 5 : i), ".lock") != 0 &&
	    s[i - 1] != '.';
}

/* Whether session <key> collides with anything that exists. */
static int
session_taken(struct gitops_repo *r, const char *key)
{
	git_reference	*ref = NULL;
	char		*p, *branch;
	int		 taken;

	xasprintf(&p, "%s/%s/session-%s", r->workdir, GITOPS_WORKTREES_DIR,
	    key);
	taken = path_exists(p);
	free(p);
	xasprintf(&p, "%s/worktrees/session-%s", r->gitdir, key);
	taken = taken || path_exists(p);
	free(p);
	xasprintf(&branch, "session/%s", key);
	if (git_branch_lookup(&ref, r->git, branch, GIT_BRANCH_LOCAL) == 0)
		taken = 1;
	git_error_clear();
	git_reference_free(ref);
	free(branch);
	return taken;
}

int
gitops_session_create(struct gitops_repo *r, const char *job_id,
    const char *base, struct gitops_session *s, char **errmsg)
{
	git_worktree_add_options opts;
	git_reference	*ref = NULL;
	git_worktree	*wt = NULL;
	git_commit	*commit = NULL;
	git_oid		 oid;
	char		*dir = NULL, *name = NULL, *admin = NULL;
	int		 rc = -1;

	memset(s, 0, sizeof(*s));
	git_worktree_add_options_init(&opts, GIT_WORKTREE_ADD_OPTIONS_VERSION);
	if (!safe_token(job_id)) {
		fail(errmsg, "invalid job id \"%s\"", job_id);
		goto out;
	}
	if (resolve_commit(r, base, &oid, errmsg) < 0)
		goto out;
	if (git_commit_lookup(&commit, r->git, &oid) < 0) {
		git_fail(errmsg, "cannot read commit \"%s\"", base);
		goto out;
	}
	s->key = xstrdup(job_id);
	if (session_taken(r, s->key)) {
		free(s->key);
		xasprintf(&s->key, "%s-%lld", job_id, (long long)now_wall_ms());
		if (session_taken(r, s->key)) {
			fail(errmsg, "session \"%s\" already exists", s->key);
			goto out;
		}
	}
	xasprintf(&dir, "%s/%s", r->workdir, GITOPS_WORKTREES_DIR);
	xasprintf(&s->path, "%s/session-%s", dir, s->key);
	xasprintf(&s->branch, "session/%s", s->key);
	xasprintf(&name, "session-%s", s->key);
	xasprintf(&admin, "%s/worktrees/%s", r->gitdir, name);
	oid_hex(s->base, &oid);
	if (mkpath(dir, 0777) == -1) {
		fail(errmsg, "cannot create \"%s\": %s", dir, strerror(errno));
		goto out;
	}
	if (git_branch_create(&ref, r->git, s->branch, commit, 0) < 0) {
		git_fail(errmsg, "cannot create branch \"%s\"", s->branch);
		goto out;
	}
	opts.ref = ref;
	if (git_worktree_add(&wt, r->git, name, s->path, &opts) < 0) {
		git_fail(errmsg, "failed to add worktree at \"%s\"", s->path);
		/* libgit2 leaves what it made; none of it existed before. */
		rmtree(admin);
		rmtree(s->path);
		git_reference_delete(ref);
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		gitops_session_release(s);
	git_worktree_free(wt);
	git_reference_free(ref);
	git_commit_free(commit);
	free(dir);
	free(name);
	free(admin);
	return rc;
}

/* Whether path is <project>/.ktx/worktrees/session-*. */
static int
in_worktrees_dir(struct gitops_repo *r, const char *path)
{
	char	*prefix;
	size_t	 n;
	int	 ok;

	xasprintf(&prefix, "%s/%s/session-", r->workdir, GITOPS_WORKTREES_DIR);
	n = strlen(prefix);
	ok = strncmp(path, prefix, n) == 0 && path[n] != '\0' &&
	    strchr(path + n, '/') == NULL;
	free(prefix);
	return ok;
}

/* Whether the project's HEAD is the branch refname. */
static int
checked_out_in_root(struct gitops_repo *r, const char *refname)
{
	git_reference	*head = NULL;
	int		 yes;

	yes = git_reference_lookup(&head, r->git, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	    strcmp(git_reference_symbolic_target(head), refname) == 0;
	git_error_clear();
	git_reference_free(head);
	return yes;
}

int
gitops_session_remove(struct gitops_repo *r, const char *path,
    const char *branch, char **errmsg)
{
	git_worktree_prune_options popts;
	git_worktree	*wt = NULL;
	git_reference	*ref = NULL;
	const char	*name;
	char		*admin = NULL;
	int		 error, rc = -1;

	git_worktree_prune_options_init(&popts,
	    GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
	if (!in_worktrees_dir(r, path)) {
		fail(errmsg, "\"%s\" is not a session worktree of \"%s\"", path,
		    r->workdir);
		goto out;
	}
	name = strrchr(path, '/') + 1;
	error = git_worktree_lookup(&wt, r->git, name);
	if (error == 0) {
		popts.flags = GIT_WORKTREE_PRUNE_VALID |
		    GIT_WORKTREE_PRUNE_LOCKED | GIT_WORKTREE_PRUNE_WORKING_TREE;
		if (git_worktree_prune(wt, &popts) < 0) {
			git_fail(errmsg, "cannot remove worktree \"%s\"", path);
			goto out;
		}
	}
	git_error_clear();
	/* Whatever prune left: a dir without .git, an orphaned admin dir. */
	xasprintf(&admin, "%s/worktrees/%s", r->gitdir, name);
	if (rmtree(path) == -1 || rmtree(admin) == -1) {
		fail(errmsg, "cannot remove \"%s\": %s", path_exists(path) ?
		    path : admin, strerror(errno));
		goto out;
	}
	if (branch != NULL) {
		/*
		 * git_reference_delete, not git_branch_delete: session
		 * branches have no branch.<name> config to drop, and
		 * libgit2 1.5.1 leaks pcre2 match data on every config
		 * entry that section rename does not match.
		 */
		error = git_branch_lookup(&ref, r->git, branch,
		    GIT_BRANCH_LOCAL);
		/*
		 * Only the project's own checkout is asked, not every
		 * worktree as git_branch_is_checked_out does: that opens
		 * each running session, under the repo lock, per removal.
		 */
		if (error == 0 &&
		    checked_out_in_root(r, git_reference_name(ref))) {
			fail(errmsg, "cannot delete branch \"%s\": it is "
			    "checked out", branch);
			goto out;
		}
		if (error == 0 && git_reference_delete(ref) < 0) {
			git_fail(errmsg, "cannot delete branch \"%s\"", branch);
			goto out;
		}
		if (error < 0 && error != GIT_ENOTFOUND) {
			git_fail(errmsg, "cannot read branch \"%s\"", branch);
			goto out;
		}
		git_error_clear();
	}
	rc = 0;
out:
	free(admin);
	git_reference_free(ref);
	git_worktree_free(wt);
	return rc;
}

void
gitops_leftovers_release(struct gitops_leftovers *l)
{
	strv_release(&l->worktrees);
	strv_release(&l->branches);
}

int
gitops_list_leftovers(struct gitops_repo *r, struct gitops_leftovers *l,
    char **errmsg)
{
	git_branch_iterator	*it = NULL;
	git_reference		*ref;
	git_branch_t		 type;
	git_strarray		 names = { NULL, 0 };
	git_worktree		*wt;
	struct dirent		*de;
	const char		*bn;
	char			*dir, *p;
	DIR			*d;
	size_t			 i;
	int			 error, rc = -1;

	memset(l, 0, sizeof(*l));
	xasprintf(&dir, "%s/%s", r->workdir, GITOPS_WORKTREES_DIR);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "session-", 8) != 0)
				continue;
			xasprintf(&p, "%s/%s", dir, de->d_name);
			strv_push_owned(&l->worktrees, p);
		}
		closedir(d);
	}
	/* Registered worktrees whose directory is gone. */
	if (git_worktree_list(&names, r->git) < 0) {
		git_fail(errmsg, "cannot list the worktrees");
		goto out;
	}
	for (i = 0; i < names.count; i++) {
		if (git_worktree_lookup(&wt, r->git, names.strings[i]) < 0) {
			git_error_clear();
			continue;
		}
		p = strip_slash(git_worktree_path(wt));
		if (in_worktrees_dir(r, p))
			strv_push_owned(&l->worktrees, p);
		else
			free(p);
		git_worktree_free(wt);
	}
	strv_sort_uniq(&l->worktrees);
	if (git_branch_iterator_new(&it, r->git, GIT_BRANCH_LOCAL) < 0) {
		git_fail(errmsg, "cannot list the branches");
		goto out;
	}
	while ((error = git_branch_next(&ref, &type, it)) == 0) {
		if (git_branch_name(&bn, ref) == 0 &&
		    strncmp(bn, "session/", 8) == 0)
			strv_push(&l->branches, bn);
		git_reference_free(ref);
	}
	if (error != GIT_ITEROVER) {
		git_fail(errmsg, "cannot list the branches");
		goto out;
	}
	git_error_clear();
	strv_sort_uniq(&l->branches);
	rc = 0;
out:
	if (rc == -1)
		gitops_leftovers_release(l);
	git_branch_iterator_free(it);
	git_strarray_dispose(&names);
	free(dir);
	return rc;
}

/* The changes between two commits, for the gates. */

void
gitops_changes_release(struct gitops_changes *c)
{
	size_t	i;

	for (i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

struct change_list {
	struct gitops_changes	*out;
	size_t			 cap;
};

static void
collect_change(const char *path, enum change change, void *arg)
{
	struct change_list	*cl = arg;
	struct gitops_change	*c;

	if (cl->out->n == cl->cap) {
		cl->cap = cl->cap ? cl->cap * 2 : 16;
		cl->out->v = xreallocarray(cl->out->v, cl->cap,
		    sizeof(*cl->out->v));
	}
	c = &cl->out->v[cl->out->n++];
	c->kind = change == CHANGE_ADDED ? GITOPS_ADDED :
	    change == CHANGE_MODIFIED ? GITOPS_MODIFIED : GITOPS_DELETED;
	c->path = xstrdup(path);
}

static int
cmp_change(const void *a, const void *b)
{
	const struct gitops_change	*ca = a, *cb = b;
	int				 d = strcmp(ca->path, cb->path);

	return d != 0 ? d : (int)ca->kind - (int)cb->kind;
}

int
gitops_diff(struct gitops_repo *r, const char *from, const char *to,
    struct gitops_changes *out, char **errmsg)
{
	struct change_list	 cl = { out, 0 };
	git_tree		*ta = NULL, *tb = NULL;
	git_oid			 oid, tid;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	if (resolve_commit(r, from, &oid, errmsg) < 0 ||
	    commit_tree_id(r, &oid, &tid, errmsg) < 0 ||
	    lookup_tree(r, &tid, &ta, errmsg) < 0 ||
	    resolve_commit(r, to, &oid, errmsg) < 0 ||
	    commit_tree_id(r, &oid, &tid, errmsg) < 0 ||
	    lookup_tree(r, &tid, &tb, errmsg) < 0)
		goto out;
	if (walk_changes(r->git, ta, tb, "", collect_change, &cl) < 0) {
		git_fail(errmsg, "cannot compare %s with %s", from, to);
		goto out;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_change);
	rc = 0;
out:
	git_tree_free(ta);
	git_tree_free(tb);
	if (rc == -1)
		gitops_changes_release(out);
	return rc;
}

/* The raw-sources diff summary. */

static void
count_change(const char *path, enum change change, void *arg)
{
	struct gitops_diffstat	*ds = arg;

	(void)path;
	if (change == CHANGE_ADDED)
		ds->added++;
	else if (change == CHANGE_MODIFIED)
		ds->modified++;
	else
		ds->deleted++;
}

static void
count_file(const char *path, enum change change, void *arg)
{
	(void)path;
	(void)change;
	(*(unsigned *)arg)++;
}

int
gitops_snapshot_diff(struct gitops_repo *r, const char *commit,
    const char *parent, const char *sync_id, struct gitops_diffstat *ds,
    char **errmsg)
{
	const git_tree_entry	*e, *prev = NULL;
	git_tree_entry		*pe = NULL;
	git_tree		*root = NULL, *pt = NULL, *nt = NULL, *ot = NULL;
	git_oid			 oid, tid;
	size_t			 i, n;
	unsigned		 files = 0;
	int			 rc = -1;

	memset(ds, 0, sizeof(*ds));
	if (resolve_commit(r, commit, &oid, errmsg) < 0 ||
	    commit_tree_id(r, &oid, &tid, errmsg) < 0 ||
	    lookup_tree(r, &tid, &root, errmsg) < 0)
		goto out;
	if (git_tree_entry_bypath(&pe, root, parent) < 0 ||
	    git_tree_entry_type(pe) != GIT_OBJECT_TREE ||
	    lookup_tree(r, git_tree_entry_id(pe), &pt, errmsg) < 0) {
		git_error_clear();
		fail(errmsg, "no snapshot \"%s/%s\" in %s", parent, sync_id,
		    commit);
		goto out;
	}
	e = git_tree_entry_byname(pt, sync_id);
	if (!entry_is_tree(e)) {
		fail(errmsg, "no snapshot \"%s/%s\" in %s", parent, sync_id,
		    commit);
		goto out;
	}
	if (lookup_tree(r, git_tree_entry_id(e), &nt, errmsg) < 0)
		goto out;
	n = git_tree_entrycount(pt);
	for (i = 0; i < n; i++) {
		e = git_tree_entry_byindex(pt, i);
		if (!entry_is_tree(e) ||
		    strcmp(git_tree_entry_name(e), sync_id) >= 0)
			continue;
		if (prev == NULL || strcmp(git_tree_entry_name(e),
		    git_tree_entry_name(prev)) > 0)
			prev = e;
	}
	if (prev != NULL && lookup_tree(r, git_tree_entry_id(prev), &ot,
	    errmsg) < 0)
		goto out;
	if (walk_changes(r->git, ot, nt, "", count_change, ds) < 0 ||
	    walk_changes(r->git, NULL, nt, "", count_file, &files) < 0) {
		git_fail(errmsg, "cannot compare snapshots");
		goto out;
	}
	ds->unchanged = files - ds->added - ds->modified;
	rc = 0;
out:
	git_tree_entry_free(pe);
	git_tree_free(root);
	git_tree_free(pt);
	git_tree_free(nt);
	git_tree_free(ot);
	return rc;
}

char *
gitops_squash_message(const char *source_key, const char *job_id,
    const char *sync_id, const struct gitops_diffstat *ds)
{
	char	*s;

	xasprintf(&s, "ingest(%s): %s syncId=%s diff=+%u/~%u/-%u/=%u",
	    source_key, job_id, sync_id, ds->added, ds->modified, ds->deleted,
	    ds->unchanged);
	return s;
}
