/*
 * Helpers for the source adapter suites: throwaway projects in a temp
 * dir, running an adapter's two steps, and reading what it wrote.
 */
#ifndef KTX_SRCTEST_H
#define KTX_SRCTEST_H

#include <stddef.h>

#include "sources.h"

/* A project with a session worktree and a staging dir, in a temp dir. */
struct st_env {
	char			*root;		/* the temp dir */
	char			*project;	/* <root>/project */
	/* <project>/.ktx/worktrees/session-t */
	char			*worktree;
	/* <project>/.ktx/cache/local-ingest/t/staged */
	char			*staging;
	struct ktx_connection	 conn;
	struct strv		 warehouses;
	struct source_job	 job;
	struct source_result	 res;
	char			*err;
};

/* A fresh env for connection id/driver reading source_dir (may be NULL). */
void	 st_env_init(struct st_env *, const char *id, const char *driver,
	    const char *source_dir);
/* Run stage then ingest; 0 or -1 with env->err set. */
int	 st_run(struct st_env *);
/* Forget the staged snapshot and the result, keep the worktree. */
void	 st_env_rerun(struct st_env *);
void	 st_env_release(struct st_env *);

/* The path of a real fixture (under tests/data/fixtures).  Caller frees. */
char	*st_fixture(const char *rel);
char	*st_tmpdir(void);
void	 st_rmrf(const char *path);
void	 st_write(const char *dir, const char *rel, const char *data,
	    size_t len);
void	 st_writes(const char *dir, const char *rel, const char *text);
/* Contents of dir/rel, NUL-terminated, or NULL.  Caller frees. */
char	*st_read(const char *dir, const char *rel, size_t *lenp);
/* Every file under dir (sorted) with its bytes, as one string. */
char	*st_tree(const char *dir);
/* Regular files under dir/rel ("" for all), relative paths, sorted. */
void	 st_list(const char *dir, const char *rel, struct strv *out);
size_t	 st_count(const char *hay, const char *needle);
/* unzip -q zip into dir; 0 on success. */
int	 st_unzip(const char *zip, const char *dir);
/* The output whose path is path, or NULL. */
const struct source_output *st_output(const struct source_result *,
	    const char *path);
/* The first event named event, or NULL. */
const struct source_event *st_event(const struct source_result *,
	    const char *event);
size_t	 st_nevents(const struct source_result *, const char *event);
/*
 * Write semantic-layer/<wh>/_schema/<shard>.yaml with sl.h's emitter from a
 * cJSON map {<key>: {table, columns: [{name, type}]}}.
 */
void	 st_shard(const char *worktree, const char *wh, const char *shard,
	    const cJSON *tables);
/* The worktree's semantic layer loads without errors or orphan overlays. */
void	 st_sl_clean(const char *worktree);
/*
 * What the worker does after the projection: copy the snapshot into
 * raw-sources/<conn>/<driver>/<syncId>/, reconcile the link requests, run
 * the final gates over every changed path with the outputs' provenance.
 * Fails the test on any gate error; *resolved (may be NULL) gets the
 * number of pages reconciliation rewrote.
 */
void	 st_pipeline(struct st_env *, size_t *resolved);

#endif
