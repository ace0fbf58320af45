/*
 * The built-in context-source adapters (dbt, notion, metabase) and the
 * helpers they share.
 *
 * An adapter runs in two steps inside a worker (DESIGN section 4):
 *
 *  1. source_stage_<driver> reads the connection's source_dir, selects the
 *     files the driver reads, checks each one (a regular file, or a
 *     symbolic link that stays inside source_dir; at most the driver's size
 *     limit; UTF-8; JSON or YAML that parses) and copies it into
 *     job->staging_dir under a stable relative path (listed in
 *     res->staged).  It writes nothing outside the staging dir, which must
 *     be empty or absent.  Any bad input file fails the target with a
 *     message naming the file (and the line where there is one).
 *
 *  2. source_ingest_<driver> reads only that staged snapshot (what the
 *     pipeline copies to raw-sources/<conn>/<driver>/<syncId>/) and the
 *     semantic-layer manifests of the session worktree, builds every wiki
 *     page and overlay in memory, and writes them into job->worktree all or
 *     nothing: on failure the worktree is as it was.  The same snapshot and
 *     worktree give byte-identical files, so a rerun changes nothing.
 *
 * Both return 0, or -1 with one line in *errmsg (caller frees).  The result
 * says what was staged, written (with the snapshot paths each output came
 * from, for provenance), skipped and why, and carries trace events; the
 * caller releases it, also after a failure.
 *
 * Guardrail (DESIGN section 9): an overlay is written only onto a source
 * some warehouse manifest backs, and a page names in sl_refs only sources
 * that exist there; missing schema context stops that item.
 */
#ifndef KTX_SOURCES_H
#define KTX_SOURCES_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ktxconfig.h"
#include "sl.h"
#include "util.h"

/*
 * Size limits per input file.  A dbt manifest of a large project runs to
 * tens of MiB; the raw snapshot gate allows 256 MiB.  Notion pages and
 * Metabase cards become wiki pages, which the gates cap at 8 MiB.
 */
#define SOURCE_DBT_MAX_BYTES	(256 * 1024 * 1024)
#define SOURCE_TEXT_MAX_BYTES	(8 * 1024 * 1024)
#define SOURCE_MAX_FILES	100000	/* files a source_dir walk may list */
#define SOURCE_MAX_DEPTH	64	/* directory and YAML/JSON nesting */
#define SOURCE_CSV_MAX_ROWS	1000	/* rows a database page shows */
#define SOURCE_SUMMARY_MAX	200	/* bytes of a page summary */

struct source_job {
	const struct ktx_connection *conn;
	const char	*project_dir;	/* a relative source_dir is under it */
	const char	*worktree;	/* the session worktree */
	/* .ktx/cache/local-ingest/<jobId>/staged */
	const char	*staging_dir;
	const char	*sync_id;	/* names the snapshot in raw-sources/ */
	/*
	 * The database connections whose semantic layer may back sources:
	 * dbt and Notion search them in order; Metabase takes
	 * conn->mappings_connection, else the only one listed.
	 */
	const struct strv *warehouses;
};

enum source_output_kind {
	SOURCE_WIKI,		/* wiki/global/<key>.md */
	SOURCE_OVERLAY		/* semantic-layer/<wh>/<file>.yaml */
};

struct source_output {
	enum source_output_kind	 kind;
	char			*path;		/* relative to the worktree */
	char			*key;		/* page key, "<wh>/<source>" */
	struct strv		 raw_paths;	/* relative to the snapshot */
	int			 changed;	/* 0: the bytes were there */
};

struct source_skip {
	char		*item;		/* "card 29", "model customers" */
	char		*reason;	/* "missing schema context: ..." */
	struct strv	 raw_paths;
};

struct source_event {
	char		*event;		/* "metabase_card_skipped", ... */
	cJSON		*data;		/* an object */
};

struct source_result {
	struct strv		 staged;	/* in the staging dir, sorted */
	struct source_output	*outputs;	/* sorted by path */
	size_t			 noutputs;
	struct source_skip	*skips;
	size_t			 nskips;
	struct source_event	*events;
	size_t			 nevents;
};

void	 source_result_release(struct source_result *);

int	 source_stage_dbt(const struct source_job *, struct source_result *,
	    char **errmsg);
int	 source_ingest_dbt(const struct source_job *, struct source_result *,
	    char **errmsg);
int	 source_stage_notion(const struct source_job *, struct source_result *,
	    char **errmsg);
int	 source_ingest_notion(const struct source_job *, struct source_result *,
	    char **errmsg);
int	 source_stage_metabase(const struct source_job *,
	    struct source_result *, char **errmsg);
int	 source_ingest_metabase(const struct source_job *,
	    struct source_result *, char **errmsg);

typedef int (*source_fn)(const struct source_job *, struct source_result *,
    char **);

struct source_adapter {
	const char	*driver;
	source_fn	 stage;
	source_fn	 ingest;
};

/* The built-in adapter of a driver, or NULL. */
const struct source_adapter *source_adapter_find(const char *driver);

/* ---- Helpers the adapters share (sources.c, yamljson.c, sqlrefs.c) ---- */


void	 source_event_add(struct source_result *, const char *event,
	    cJSON *data);
void	 source_skip_add(struct source_result *, const char *item,
	    const char *reason, const struct strv *raw_paths);

/*
 * Input side of staging: the source directory, resolved.  root is its real
 * path; name is how messages name it (source_dir as configured).
 */
struct source_input {
	char	*root;
	char	*name;
};

enum source_format {
	SOURCE_FMT_TEXT,	/* UTF-8 text */
	SOURCE_FMT_JSON,	/* UTF-8 JSON that parses */
	SOURCE_FMT_YAML		/* UTF-8 YAML that parses */
};

int	 source_input_open(const struct source_job *, struct source_input *,
	    char **errmsg);
void	 source_input_release(struct source_input *);
/*
 * What rel names inside the input: 1 a regular file (after symbolic links
 * that stay inside), 2 a directory, 0 nothing; -1 with *errmsg for a link
 * that leads outside or a path that cannot be examined.
 */
int	 source_input_kind(const struct source_input *, const char *rel,
	    char **errmsg);
/*
 * The regular files under the directory rel ("" for the root), relative
 * to the root and sorted bytewise.  A symbolic link leading outside the
 * input fails the walk; links to directories are not followed (each is
 * noted in *notes); sockets, FIFOs and devices are ignored.
 */
int	 source_input_walk(const struct source_input *, const char *rel,
	    struct strv *files, struct strv *notes, char **errmsg);
/*
 * Check the input file src (relative to the input root) and copy it to
 * dst (relative to the staging dir); add dst to res->staged.
 */
int	 source_stage_file(const struct source_job *,
	    const struct source_input *, const char *src, const char *dst,
	    size_t max, enum source_format, struct source_result *,
	    char **errmsg);
/* Create the staging dir; it must be absent or empty. */
int	 source_staging_prepare(const struct source_job *, char **errmsg);
/* Sort res->staged (the order the adapters staged in need not be). */
void	 source_staged_sort(struct source_result *);
/*
 * The newest snapshot in the worktree's raw-sources/<conn>/<source_key>/,
 * when it holds exactly the staged files (sorted) with the same bytes: its
 * syncId, which then stands for this run's, so that unchanged input lands
 * no commit.  NULL otherwise.  Caller frees.
 */
char	*source_snapshot_reusable(const struct source_job *,
	    const char *source_key, const struct strv *staged);

/*
 * Read a file of at most max bytes that must be UTF-8 text without NUL
 * bytes; messages name it by name ("<name>:<line>: invalid UTF-8").
 * Caller frees *bufp, which is NUL-terminated.
 */
int	 source_read_text(const char *path, const char *name, size_t max,
	    char **bufp, size_t *lenp, char **errmsg);
/* Files of the staged snapshot, relative and sorted. */
int	 source_snapshot_list(const struct source_job *, struct strv *files,
	    char **errmsg);
/* Read the snapshot file rel as text, JSON or YAML (caller frees). */
int	 source_snapshot_text(const struct source_job *, const char *rel,
	    size_t max, char **bufp, size_t *lenp, char **errmsg);
int	 source_snapshot_json(const struct source_job *, const char *rel,
	    size_t max, cJSON **out, char **errmsg);
int	 source_snapshot_yaml(const struct source_job *, const char *rel,
	    size_t max, cJSON **out, char **errmsg);

/* JSON text to cJSON; errors "<name>:<line>:<col>: invalid JSON". */
int	 source_json_parse(const char *name, const char *buf, size_t len,
	    cJSON **out, char **errmsg);
/*
 * YAML text (one document) to cJSON: mappings become objects in file
 * order, plain scalars that YAML's core schema reads as null, booleans or
 * numbers become those (numbers as raw items keeping their text), every
 * other scalar a string.  Aliases, non-scalar keys and duplicate keys are
 * refused.  Errors "<name>:<line>:<col>: ...".
 */
int	 source_yaml_parse(const char *name, const char *buf, size_t len,
	    cJSON **out, char **errmsg);
/*
 * A cJSON tree as block YAML: indent 2, sequences indented under their
 * key, strings plain when YAML 1.1 and 1.2 both read them back as the same
 * string, else a literal block (multi-line text) or double-quoted.
 */
void	 source_yaml_emit(const cJSON *, struct sbuf *);

/* cJSON accessors that tolerate NULL and wrong types. */
const char *jstr(const cJSON *obj, const char *key);
const cJSON *jget(const cJSON *obj, const char *key);
/* An integer-valued number (also a raw YAML number); 0 if none. */
int	 jint(const cJSON *item, long long *out);

/*
 * Keys.  source_slug: lower case, every run of characters other than a-z
 * and 0-9 one "-", "-" trimmed (the slug reconciliation uses for page
 * titles), cut to at most max bytes at a "-".  source_key: the page key
 * "<slug of the connection id>-<slug of name>"; "<conn>-untitled" when name
 * has no letter or digit.  Caller frees.
 */
char	*source_slug(const char *text, size_t max);
char	*source_key(const char *conn_id, const char *name);

/*
 * A page summary from text: its first paragraph (headings before it
 * skipped) without "*" and "`" marks, whitespace runs one space, cut to
 * SOURCE_SUMMARY_MAX bytes at a word boundary (UTF-8 safe) with "..."
 * appended; fallback when that leaves nothing.  Caller frees.
 */
char	*source_summary(const char *text, const char *fallback);

/*
 * Append imported text to a page body with its "[[" written "[\[" so that
 * prose can never be read as a wiki link.
 */
void	 source_add_prose(struct sbuf *, const char *text, size_t len);
/*
 * Link requests reconciliation resolves after the refresh from main
 * (src/common/reconcile.h): a page by key or title, a table by reference
 * ("<conn>/<ref>" or "<ref>").  label may be NULL.
 */
void	 source_link_page(struct sbuf *, const char *key_or_title,
	    const char *label);
void	 source_link_table(struct sbuf *, const char *conn,
	    const char *table_ref);

/* A wiki page an adapter builds. */
struct source_page {
	char		*key;
	char		*summary;
	struct strv	 tags;
	struct strv	 sl_refs;
	char		*body;
	struct strv	 raw_paths;
};
void	 source_page_release(struct source_page *);

/*
 * The files an ingest writes, collected first and written last.
 */
struct source_file {
	enum source_output_kind	 kind;
	char			*path;	/* relative to the worktree */
	char			*key;
	char			*data;
	size_t			 len;
	struct strv		 raw_paths;
};

struct source_plan {
	struct source_file	*v;
	size_t			 n;
	size_t			 cap;
};

/* Render page as ktx writes it (wiki_emit); takes nothing from page. */
void	 source_plan_page(struct source_plan *, const struct source_page *,
	    const char *conn_id);
/* Add the overlay path (taken) with data (taken); key "<wh>/<source>". */
void	 source_plan_overlay(struct source_plan *, char *path, const char *key,
	    char *data, const struct strv *raw_paths);
/*
 * Write every file of the plan into the worktree (each through a
 * temporary file and rename, after checking that no path component is a
 * symbolic link), all or nothing; record them in res->outputs.
 */
int	 source_plan_write(struct source_plan *, const char *worktree,
	    struct source_result *, char **errmsg);
void	 source_plan_release(struct source_plan *);

/* ktx's file name for a semantic-layer source: "<name>.yaml" or
 * "<slug>-<8 hex of sha256(name)>.yaml".  Caller frees. */
char	*source_sl_filename(const char *name);

/* The warehouse side, read through the semantic layer of the session
 * worktree (sl.h, sl_table_find). */
/* Whether conn has a manifest shard (semantic-layer/<conn>/_schema/). */
int	 source_has_manifest(const struct sl *, const char *conn);
/* The table column (not a computed one) of src named col, ignoring case,
 * or NULL. */
const char *source_column(const struct sl_source *, const char *col);

/*
 * Tables a SQL query reads: the targets of FROM and JOIN (and of commas in
 * a FROM list), with quotes stripped ("public.orders"), minus CTE names and
 * function calls; subqueries are followed.  Metabase card references
 * ({{#27}} or {{#27-name}}) are reported as cards.  See sqlrefs.c for what
 * the tokenizer does not understand.
 */
struct sql_refs {
	struct strv	 tables;	/* in query order, each once */
	struct strv	 cards;		/* card ids as text */
};
void	 sql_refs_scan(const char *sql, struct sql_refs *);
void	 sql_refs_release(struct sql_refs *);

#endif
