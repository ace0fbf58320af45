/*
 * The semantic layer of a project tree, composed as ktx composes it.
 *
 * Files: semantic-layer/<conn>/<file>.yaml or .yml (standalone sources
 * and overlays) and semantic-layer/<conn>/_schema/<shard>.yaml (manifest
 * shards the database scans write).  A source's identity is the "name:"
 * in its file, never the file name.  Composition, per connection:
 *  1. every entry of every manifest shard becomes a source (manifest-
 *     backed): grain = its pk columns, else all columns; a column of type
 *     time gets role time; no measures;
 *  2. a standalone file (one with "table:" or "sql:") replaces a manifest
 *     entry of the same name, with a warning;
 *  3. an overlay (neither "table:" nor "sql:") is composed onto the
 *     manifest entry of the same name; an overlay with no manifest entry
 *     (an orphan) is dropped with a warning and listed in sl->orphans.
 * Two files declaring one name is an error ("Multiple semantic-layer files
 * declare source ..."); the first file in path order keeps the name.
 *
 * Problems in one file never stop the load: each becomes an sl_error with
 * "<path>:<line>:<col>: <message>", positions those of the original file.
 * Standalone and overlay files are checked strictly, as ktx's schemas do
 * (an unknown field is an error); manifest shards are written by programs,
 * so an unknown field there is a warning.  A file whose YAML does not parse
 * declares nothing; a standalone or overlay file with errors contributes
 * what could be read; a shard entry with errors is left out.
 *
 * Paths in the model are relative to the tree's root, "semantic-layer/wh/
 * invoices.yaml".  Lookups use hash tables; the model is read-only once
 * loaded, so lookups may run from several threads.
 */
#ifndef KTX_SL_H
#define KTX_SL_H

#include <stddef.h>

#include "util.h"

#define SL_DIR			"semantic-layer"
#define SL_SCHEMA_DIR		"_schema"
#define SL_FILE_MAX_BYTES	(64 * 1024 * 1024)
#define SL_MAX_DEPTH		64	/* nesting of YAML collections */

/* A descriptions map, keys in file order ("db", "ai", "dbt", ...). */
struct sl_kv {
	char	*key;
	char	*value;
};

struct sl_desc {
	struct sl_kv	*v;
	size_t		 n;
};

/* Where something was declared: path points into sl->files. */
struct sl_pos {
	const char	*path;
	int		 line;
	int		 column;
};

/* type: string|number|time|boolean.  Optional strings are NULL unset. */
struct sl_column {
	char		*name;
	char		*type;
	char		*role;		/* time|default */
	char		*visibility;	/* public|internal|hidden */
	char		*expr;		/* computed columns */
	int		 pk;		/* manifest "pk: true" */
	int		 notnull;	/* manifest "nullable: false" */
	struct sl_desc	 descriptions;
	struct sl_pos	 pos;
};

/*
 * to names a source of the same connection; relationship is many_to_one,
 * one_to_many or one_to_one; origin is a manifest join's "source:"
 * (formal, inferred or manual), NULL elsewhere; alias may be NULL.
 */
struct sl_join {
	char		*to;
	char		*on;
	char		*relationship;
	char		*origin;
	char		*alias;
	struct sl_pos	 pos;
};

struct sl_measure {
	char		*name;
	char		*expr;
	char		*filter;	/* or NULL */
	char		*description;	/* or NULL */
	struct sl_pos	 pos;
};

struct sl_segment {
	char		*name;
	char		*expr;
	char		*description;	/* or NULL */
	struct sl_pos	 pos;
};

enum sl_source_kind {
	SL_SOURCE_MANIFEST,	/* a shard entry, perhaps with an overlay */
	SL_SOURCE_STANDALONE	/* a file with table: or sql: */
};

/*
 * A composed source: table is a qualified ref (NULL for a SQL source);
 * an overlay's exclude_columns and disable_joins are already applied; pos
 * is the shard entry's key or the standalone file's name:; overlay_path
 * names the overlay composed onto it, or is NULL.
 */
struct sl_source {
	char			*conn;
	char			*name;
	enum sl_source_kind	 kind;
	char			*table;
	char			*sql;
	struct sl_desc		 descriptions;
	struct strv		 grain;
	struct sl_column	*columns;
	size_t			 ncolumns;
	struct sl_join		*joins;
	size_t			 njoins;
	struct sl_measure	*measures;
	size_t			 nmeasures;
	struct sl_segment	*segments;
	size_t			 nsegments;
	char			*default_time_dimension;
	struct sl_pos		 pos;
	const char		*overlay_path;
};

enum sl_file_kind {
	SL_FILE_SHARD,		/* _schema/<shard>.yaml */
	SL_FILE_STANDALONE,
	SL_FILE_OVERLAY,
	SL_FILE_UNREADABLE	/* could not be read, parsed or classified */
};

/*
 * One file of the tree and what it declared: names holds a shard's table
 * keys in file order (entries with errors included), or another file's
 * name: (nothing when it has none); errors holds the texts of its
 * sl_errors.
 */
struct sl_file {
	char			*path;
	char			*conn;
	enum sl_file_kind	 kind;
	struct strv		 names;
	struct strv		 errors;
};

/*
 * A load or composition error: text is "<path>:<line>:<col>: <message>";
 * source is NULL when it concerns no source.
 */
struct sl_error {
	char		*conn;
	char		*path;
	char		*source;
	char		*text;
};

/* An overlay with no manifest entry to compose onto; dropped. */
struct sl_orphan {
	char		*conn;
	char		*name;
	struct sl_pos	 pos;		/* its name: */
};

struct sl_index;

/*
 * connections are the directories under semantic-layer/, sorted bytewise;
 * sources are sorted by conn, then name; files by path; errors come file
 * by file in path order, then those of composition.
 */
struct sl {
	char			*root;
	struct strv		 connections;
	struct sl_source	*sources;
	size_t			 nsources;
	struct sl_file		*files;
	size_t			 nfiles;
	struct sl_error		*errors;
	size_t			 nerrors;
	struct sl_orphan	*orphans;
	size_t			 norphans;
	struct strv		 warnings;	/* "<path>[:L:C]: ..." */
	struct sl_index		*index;
};

/*
 * Load the semantic layer under root (a project or worktree directory).
 * A missing semantic-layer/ is an empty layer.  Problems inside files are
 * collected in sl->errors; -1 (with *errmsg) only when a directory cannot
 * be listed.  Caller releases sl (also after a failure) and frees *errmsg.
 */
int	 sl_load(struct sl *sl, const char *root, char **errmsg);

/*
 * sl_load, reading only what can bear on names (source names and the last
 * part of table refs, as wiki references give them): the files whose bytes
 * hold one of them, ASCII case ignored (all files when one of those
 * inherits columns from another).  Lookups of those names
 * (sl_source_find, sl_entity_kind, sl_table_exists, sl_ref_check) answer
 * as after sl_load; sl->files, errors and orphans cover the files read.
 * What a page change costs then follows the page, not the layer's size.
 */
int	 sl_load_for(struct sl *sl, const char *root, const struct strv *names,
	    char **errmsg);

/*
 * The name sl_load_for needs for ref: an sl_refs entry's source, or with
 * table set the last part of a table ref (lower case).  Caller frees.
 */
char	*sl_ref_word(const char *ref, int table);
void	 sl_release(struct sl *sl);

/* One file's text for sl_load_texts. */
struct sl_text {
	const char	*path;	/* "semantic-layer/<conn>/..." */
	const char	*buf;	/* not NUL-terminated */
	size_t		 len;
};

/*
 * The semantic layer sl_load would read from a tree holding just these n
 * files; sl->root is NULL.  The paths must be distinct and of the forms
 * sl_load reads ("semantic-layer/<conn>/<name>.yaml" or ".yml",
 * "semantic-layer/<conn>/_schema/<name>.yaml", no component hidden): else
 * -1 with *errmsg.  Caller releases sl (also after a failure) and frees
 * *errmsg.
 */
int	 sl_load_texts(struct sl *sl, const struct sl_text *texts, size_t n,
	    char **errmsg);

/* Whether semantic-layer/<conn>/ exists in the loaded tree. */
int	 sl_has_connection(const struct sl *sl, const char *conn);

/*
 * The source named name (case-sensitive, as ktx compares them) of conn, or
 * of the first connection in sorted order that has one when conn is NULL.
 */
const struct sl_source *sl_source_find(const struct sl *sl, const char *conn,
	    const char *name);
/* The same, ignoring case: for "the source is named ..." hints. */
const struct sl_source *sl_source_find_nocase(const struct sl *sl,
	    const char *conn, const char *name);

#define SL_ENTITY_COLUMN	0x1
#define SL_ENTITY_MEASURE	0x2
#define SL_ENTITY_SEGMENT	0x4
/* What entity names on the composed source: a mask of SL_ENTITY_*, 0: none. */
unsigned sl_entity_kind(const struct sl *sl, const struct sl_source *src,
	    const char *entity);

/*
 * ktx's tableExists: some composed source of conn (of any connection when
 * conn is NULL) whose name equals ref, or whose table equals ref or ends
 * with "." ref, compared without case and with quotes, backticks and
 * brackets removed from both.
 */
int	 sl_table_exists(const struct sl *sl, const char *conn,
	    const char *ref);
/* The source sl_table_exists matches: the first in the model's order. */
const struct sl_source *sl_table_find(const struct sl *sl, const char *conn,
	    const char *ref);

/* The file at path ("semantic-layer/wh/x.yaml"), or NULL. */
const struct sl_file *sl_file_find(const struct sl *sl, const char *path);

/*
 * sl_refs, "[<conn>/]<source>[.<entity>]" (split on the first "/", then on
 * the first "."), against the connections in conns (all loaded connections
 * when conns is NULL).  SL_REF_OK when the source exists and the entity,
 * if any, is a column, measure or segment of it.
 */
enum sl_ref_status {
	SL_REF_OK,
	SL_REF_UNKNOWN_SOURCE,	/* "<page>: unknown sl_refs entry <r>" */
	SL_REF_UNKNOWN_ENTITY	/* "<page>: unknown sl_refs entity <r>" */
};
enum sl_ref_status sl_ref_check(const struct sl *sl, const struct strv *conns,
	    const char *ref);
/*
 * Whether ktx's pre-gate repair keeps an sl_refs entry: "<source>",
 * "<source>.<measure>" or "<source>.<segment>" of a connection in conns,
 * without a "<conn>/" prefix; columns do not count.
 */
int	 sl_ref_keep(const struct sl *sl, const struct strv *conns,
	    const char *ref);

/*
 * ktx's first final gate for one connection: validate the touched source
 * names expanded with their direct join neighbours (both directions); for
 * each source with problems append one line
 *   semantic-layer validation failed for <conn>:<source>: <e1>; <e2>
 * where the problems are the load errors of the files declaring or
 * composing it, an orphan overlay, and for joins declared by a validated
 * source whose target is missing:
 *   join target "<to>" does not exist[; join targets are case-sensitive —
 *   the source is named "<X>"]
 * Also checked: joins of any source of conn that point at a touched name
 * that does not exist.  Lines are appended sorted by source name.
 */
void	 sl_validate(const struct sl *sl, const char *conn,
	    const struct strv *touched, struct strv *errors);

/*
 * Manifest shards, semantic-layer/<conn>/_schema/<shard>.yaml:
 *   tables: {<key>: {table, descriptions?, usage?, columns: [...], joins?}}
 * sl_shard_emit writes block-style YAML (indent 2), tables sorted by key,
 * entry keys in the order table, descriptions, usage, columns, joins;
 * column keys name, type, pk (only "true"), nullable (only "false"),
 * descriptions; join keys to, on, relationship, source; descriptions
 * sorted by key; usage as read.  Strings are plain where YAML reads them
 * back as the same string, else double-quoted (single-quoted when they hold
 * a double quote and no single one).  Same shard, same bytes; emit → read
 * → emit is byte-identical.
 */
struct sl_node;		/* a YAML value kept as read ("usage") */

/*
 * An entry: key is the source name, table "catalog.db.name" of the parts
 * present, usage NULL when absent; columns use name, type, pk, notnull
 * and descriptions, joins to, on, relationship and origin; line and
 * column are those of its key when read, 0 when built.
 */
struct sl_shard_table {
	char			*key;
	char			*table;
	struct sl_desc		 descriptions;
	struct sl_node		*usage;
	struct sl_column	*columns;
	size_t			 ncolumns;
	struct sl_join		*joins;
	size_t			 njoins;
	int			 line;
	int			 column;
};

struct sl_shard {
	struct sl_shard_table	*tables;
	size_t			 ntables;
};

/*
 * Read the shard at path; messages name it by name.  0 on success, 1 when
 * path does not exist (shard left empty), -1 with "<name>:<l>:<c>: ..." in
 * *errmsg.  Caller releases shard and frees *errmsg.
 */
int	 sl_shard_read(const char *path, const char *name,
	    struct sl_shard *shard, char **errmsg);
/* The shard's YAML.  Caller frees; *lenp gets its length. */
char	*sl_shard_emit(const struct sl_shard *shard, size_t *lenp);
/* Emit into path atomically (a temporary file, then rename). */
int	 sl_shard_write(const char *path, const struct sl_shard *shard,
	    char **errmsg);
void	 sl_shard_release(struct sl_shard *shard);

/* A new table in shard, zeroed but for key and table.  Points into shard. */
struct sl_shard_table *sl_shard_add_table(struct sl_shard *shard,
	    const char *key, const char *table);
/* A new column / join of t, zeroed but for what is given (copied). */
struct sl_column *sl_shard_add_column(struct sl_shard_table *t,
	    const char *name, const char *type);
struct sl_join *sl_shard_add_join(struct sl_shard_table *t, const char *to,
	    const char *on, const char *relationship, const char *origin);
/* Set key to value in d, replacing an existing value. */
void	 sl_desc_set(struct sl_desc *d, const char *key, const char *value);
const char *sl_desc_get(const struct sl_desc *d, const char *key);
void	 sl_desc_release(struct sl_desc *d);

/*
 * What a rescan keeps from the shard it replaces (ktx's rules): for each
 * table of fresh with the same key in old, description keys other than
 * "db" and "ai" (of the table and of same-named columns) that fresh does
 * not set, the usage block, and the joins whose origin is "manual" (placed
 * before fresh's joins) or "inferred" (after them) and whose target
 * target_exists() accepts; a join whose (to, on) fresh already has is not
 * added twice.
 */
void	 sl_shard_preserve(struct sl_shard *fresh,
	    const struct sl_shard *old,
	    int (*target_exists)(const char *to, void *arg), void *arg);

#endif
