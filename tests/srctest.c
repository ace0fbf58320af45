#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gates.h"
#include "reconcile.h"
#include "wiki.h"
#include "srctest.h"

char *
st_fixture(const char *rel)
{
	const char	*top = getenv("KTX_TOP_SRCDIR");
	char		*p;

	if (top == NULL || *top == '\0')
		top = SRCTEST_TOP_SRCDIR;
	xasprintf(&p, "%s/tests/data/fixtures/%s", top, rel);
	return p;
}

char *
st_tmpdir(void)
{
	const char	*t = getenv("TMPDIR");
	char		*p;

	if (t == NULL || *t == '\0')
		t = "/tmp";
	xasprintf(&p, "%s/ktx-src.XXXXXX", t);
	ck_assert_ptr_nonnull(mkdtemp(p));
	return p;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void
st_rmrf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
mkparents(const char *path)
{
	char	*p = xstrdup(path), *s;

	for (s = p + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0777) == -1)
			ck_assert_int_eq(errno, EEXIST);
		*s = '/';
	}
	free(p);
}

void
st_write(const char *dir, const char *rel, const char *data, size_t len)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", dir, rel);
	mkparents(path);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(path);
}

void
st_writes(const char *dir, const char *rel, const char *text)
{
	st_write(dir, rel, text, strlen(text));
}

char *
st_read(const char *dir, const char *rel, size_t *lenp)
{
	struct stat	 st;
	char		*path, *buf;
	FILE		*f;
	size_t		 n;

	xasprintf(&path, "%s/%s", dir, rel);
	f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return NULL;
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	buf = xmalloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	buf[n] = '\0';
	if (lenp != NULL)
		*lenp = n;
	return buf;
}

static struct strv	*list_out;
static size_t		 list_skip;

static int
list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F)
		strv_push(list_out, path + list_skip);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
st_list(const char *dir, const char *rel, struct strv *out)
{
	char	*p;

	if (*rel == '\0')
		p = xstrdup(dir);
	else
		xasprintf(&p, "%s/%s", dir, rel);
	list_out = out;
	list_skip = strlen(dir) + 1;
	nftw(p, list_one, 16, FTW_PHYS);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	free(p);
}

char *
st_tree(const char *dir)
{
	struct strv	 files = { 0 };
	struct sbuf	 b = { 0 };
	char		*data;
	size_t		 i, len;

	st_list(dir, "", &files);
	for (i = 0; i < files.n; i++) {
		data = st_read(dir, files.v[i], &len);
		sbuf_addf(&b, "== %s %zu\n", files.v[i], len);
		sbuf_add(&b, data, len);
		free(data);
	}
	strv_release(&files);
	return sbuf_take(&b);
}

size_t
st_count(const char *hay, const char *needle)
{
	size_t	n = 0, len = strlen(needle);

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += len;
	}
	return n;
}

int
st_unzip(const char *zip, const char *dir)
{
	pid_t	pid;
	int	status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		execlp("unzip", "unzip", "-q", "-o", zip, "-d", dir,
		    (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

void
st_env_init(struct st_env *env, const char *id, const char *driver,
    const char *source_dir)
{
	memset(env, 0, sizeof(*env));
	env->root = st_tmpdir();
	xasprintf(&env->project, "%s/project", env->root);
	xasprintf(&env->worktree, "%s/.ktx/worktrees/session-t", env->project);
	xasprintf(&env->staging, "%s/.ktx/cache/local-ingest/t/staged",
	    env->project);
	mkparents(env->worktree);
	ck_assert_int_eq(mkdir(env->worktree, 0777), 0);
	env->conn.id = xstrdup(id);
	env->conn.driver = xstrdup(driver);
	env->conn.kind = DRIVER_SOURCE;
	if (source_dir != NULL)
		env->conn.source_dir = xstrdup(source_dir);
	env->job.conn = &env->conn;
	env->job.project_dir = env->project;
	env->job.worktree = env->worktree;
	env->job.staging_dir = env->staging;
	env->job.sync_id = "2026-01-01-000000-t";
	env->job.warehouses = &env->warehouses;
}

int
st_run(struct st_env *env)
{
	const struct source_adapter	*a;

	a = source_adapter_find(env->conn.driver);
	ck_assert_ptr_nonnull(a);
	free(env->err);
	env->err = NULL;
	if (a->stage(&env->job, &env->res, &env->err) == -1)
		return -1;
	return a->ingest(&env->job, &env->res, &env->err);
}

void
st_env_rerun(struct st_env *env)
{
	st_rmrf(env->staging);
	source_result_release(&env->res);
	free(env->err);
	env->err = NULL;
}

void
st_env_release(struct st_env *env)
{
	st_rmrf(env->root);
	free(env->root);
	free(env->project);
	free(env->worktree);
	free(env->staging);
	free(env->conn.id);
	free(env->conn.driver);
	free(env->conn.source_dir);
	free(env->conn.mappings_connection);
	strv_release(&env->warehouses);
	source_result_release(&env->res);
	free(env->err);
	memset(env, 0, sizeof(*env));
}

const struct source_output *
st_output(const struct source_result *res, const char *path)
{
	size_t	i;

	for (i = 0; i < res->noutputs; i++)
		if (strcmp(res->outputs[i].path, path) == 0)
			return &res->outputs[i];
	return NULL;
}

const struct source_event *
st_event(const struct source_result *res, const char *event)
{
	size_t	i;

	for (i = 0; i < res->nevents; i++)
		if (strcmp(res->events[i].event, event) == 0)
			return &res->events[i];
	return NULL;
}

size_t
st_nevents(const struct source_result *res, const char *event)
{
	size_t	i, n = 0;

	for (i = 0; i < res->nevents; i++)
		n += strcmp(res->events[i].event, event) == 0;
	return n;
}

/* The shard through sl.h's emitter, as the database scans write it. */
void
st_shard(const char *worktree, const char *wh, const char *shard,
    const cJSON *tables)
{
	struct sl_shard		 sh = { 0 };
	struct sl_shard_table	*t;
	const cJSON		*e, *c;
	char			*path, *err = NULL;

	cJSON_ArrayForEach(e, tables) {
		t = sl_shard_add_table(&sh, e->string, jstr(e, "table"));
		cJSON_ArrayForEach(c, jget(e, "columns"))
			sl_shard_add_column(t, jstr(c, "name"),
			    jstr(c, "type") != NULL ? jstr(c, "type") :
			    "string");
	}
	xasprintf(&path, "%s/semantic-layer/%s/_schema/%s.yaml", worktree, wh,
	    shard);
	mkparents(path);
	ck_assert_msg(sl_shard_write(path, &sh, &err) == 0, "%s", err);
	free(path);
	sl_shard_release(&sh);
}

void
st_sl_clean(const char *worktree)
{
	struct sl	 sl;
	char		*err = NULL;
	size_t		 i;

	memset(&sl, 0, sizeof(sl));
	ck_assert_msg(sl_load(&sl, worktree, &err) == 0, "%s", err);
	for (i = 0; i < sl.nerrors; i++)
		ck_assert_msg(0, "%s", sl.errors[i].text);
	ck_assert_uint_eq(sl.norphans, 0);
	sl_release(&sl);
}

static void
strv_add_unique(struct strv *sv, const char *s)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return;
	strv_push(sv, s);
}

void
st_pipeline(struct st_env *env, size_t *resolved)
{
	struct sl		 sl;
	struct reconcile_result	 rr = { 0 };
	struct gate_input	 in = { 0 };
	struct gate_report	 rep = { 0 };
	struct strv		 changed = { 0 }, raw = { 0 };
	struct gate_path	*paths;
	const struct source_output *o;
	char			*snap, *rel, *data, *err = NULL;
	size_t			 i, j, len;

	/* Stage raw files: the snapshot lands in raw-sources/. */
	xasprintf(&snap, "raw-sources/%s/%s/%s", env->conn.id, env->conn.driver,
	    env->job.sync_id);
	for (i = 0; i < env->res.staged.n; i++) {
		data = st_read(env->staging, env->res.staged.v[i], &len);
		ck_assert_ptr_nonnull(data);
		xasprintf(&rel, "%s/%s", snap, env->res.staged.v[i]);
		st_write(env->worktree, rel, data, len);
		strv_push_owned(&changed, rel);
		free(data);
	}
	for (i = 0; i < env->res.noutputs; i++) {
		/* Keys ktx's ref checks take, each page once. */
		o = &env->res.outputs[i];
		if (o->kind == SOURCE_WIKI)
			ck_assert_msg(wiki_ref_key_valid(o->key), "key %s",
			    o->key);
		if (i > 0)
			ck_assert_str_lt(env->res.outputs[i - 1].path,
			    env->res.outputs[i].path);
		strv_push(&changed, env->res.outputs[i].path);
		for (j = 0; j < env->res.outputs[i].raw_paths.n; j++)
			strv_add_unique(&raw,
			    env->res.outputs[i].raw_paths.v[j]);
	}
	/* Reconciliation against the tree, then the final gates. */
	memset(&sl, 0, sizeof(sl));
	ck_assert_msg(sl_load(&sl, env->worktree, &err) == 0, "%s", err);
	ck_assert_msg(reconcile_run(env->worktree, &sl, NULL, &rr, &err) == 0,
	    "%s", err);
	if (resolved != NULL)
		*resolved = rr.npages;
	reconcile_result_release(&rr);
	sl_release(&sl);
	paths = xcalloc(changed.n + 1, sizeof(*paths));
	for (i = 0; i < changed.n; i++) {
		paths[i].change = GATE_ADDED;
		paths[i].path = changed.v[i];
	}
	in.worktree = env->worktree;
	in.changed = paths;
	in.nchanged = changed.n;
	in.snapshot_dir = snap;
	in.raw_paths = &raw;
	ck_assert_msg(gates_run(&in, &rep, &err) == 0, "%s", err);
	for (i = j = 0; i < env->res.noutputs; i++)
		j += env->res.outputs[i].kind == SOURCE_WIKI;
	ck_assert_uint_ge(rep.pages_checked, j);
	free(paths);
	free(snap);
	strv_release(&changed);
	strv_release(&raw);
}
