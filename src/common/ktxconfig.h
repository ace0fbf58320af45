/*
 * The parts of a project's ktx.yaml this program reads.  Everything else
 * ktx writes there (llm, agent, scan, setup, most of storage) is accepted
 * and ignored.  Secret references (env:NAME, file:PATH) are kept verbatim:
 * they are resolved in the worker and never printed.
 */
#ifndef KTX_KTXCONFIG_H
#define KTX_KTXCONFIG_H

#include <stddef.h>

#include "util.h"

#define KTX_CONFIG_MAX_BYTES		(1024 * 1024)
#define KTX_MAX_CONCURRENCY_MIN		1
#define KTX_MAX_CONCURRENCY_MAX		64
#define KTX_DEFAULT_AUTHOR_NAME		"ktx"
#define KTX_DEFAULT_AUTHOR_EMAIL	"ktx@example.com"
#define KTX_DEFAULT_LOCK_MAX_HOLD	600
#define KTX_CONFIG_MAX_DEPTH		64	/* nesting of YAML collections */
#define KTX_CONNECTION_ID_MAX		128	/* bytes; ids name paths and branches */

enum driver_kind {
	DRIVER_DATABASE,	/* scans a live schema; stage 1 */
	DRIVER_SOURCE		/* a context source; stage 2 */
};

struct ktx_connection {
	char		*id;
	char		*driver;
	enum driver_kind kind;
	char		*path;		/* sqlite */
	char		*url;		/* sqlite, postgres, other databases */
	char		*source_dir;	/* dbt, notion, metabase */
	struct strv	 enabled_tables;
	struct strv	 adapter_command;	/* empty: the built-in adapter */
	int		 adapter_timeout;	/* seconds; 0: none */
	/*
	 * adapter.secrets: "NAME=env:VAR" or "NAME=file:PATH", sorted by
	 * NAME; the worker resolves each into the adapter's variable NAME.
	 */
	struct strv	 adapter_secrets;
	char		*mappings_connection;	/* metabase: warehouse connection id, or NULL */
	const char	*remote_input;	/* a ktx field naming input ktx fetches itself
					   ("repo_url", "api_url", ...), or NULL */
	int		 line;		/* where "<id>:" stands in ktx.yaml */
	int		 column;
};

struct ktx_config {
	char			*path;		/* the file it was read from */
	struct ktx_connection	*connections;	/* sorted by id, bytewise */
	size_t			 nconnections;
	char			*author_name;
	char			*author_email;
	int			 max_concurrency;	/* ingest.sources.maxConcurrency */
	int			 sources_timeout;	/* ingest.sources.timeoutSeconds; 0: none */
	int			 lock_max_hold;		/* ingest.lock.maxHoldSeconds */
	struct strv		 warnings;	/* "ktx.yaml:L:C: unknown field ..." */
};

/*
 * Load and validate the file at path.  On success fill cfg and return 0;
 * unknown fields in the blocks we read are in cfg->warnings, one
 * "FILE:LINE:COL: unknown field ..." each, for the caller to print.
 * On failure return -1 and put one line "FILE:LINE:COL: what is wrong"
 * (no trailing newline; "FILE: what is wrong" when the file itself cannot
 * be read) in *errmsg, FILE being path as given; cfg is left empty.
 * Caller frees *errmsg and releases cfg.
 */
int	 config_load(const char *path, struct ktx_config *cfg, char **errmsg);
/*
 * The same for the len bytes at buf (not NUL-terminated), which config_load
 * reads from path; path is only what messages and cfg->path name.
 */
int	 config_load_buf(const char *path, const char *buf, size_t len,
	    struct ktx_config *cfg, char **errmsg);
void	 config_release(struct ktx_config *cfg);

const struct ktx_connection *config_find(const struct ktx_config *, const char *id);

/* Driver tables: kind of a known driver; -1 for an unknown one. */
int	 driver_kind_of(const char *driver);
/* The list of known drivers, for error messages ("sqlite, postgres, ..."). */
const char *driver_names(void);
/* Whether this build can ingest the driver with a built-in adapter. */
int	 driver_is_builtin(const char *driver);

#endif
