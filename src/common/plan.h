/*
 * The ingest plan: the selected connections as targets, database targets
 * first (stage 1, one at a time), then source targets (stage 2, at most
 * max_concurrency at once), each group sorted by connection id.
 */
#ifndef KTX_PLAN_H
#define KTX_PLAN_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "ktxconfig.h"

enum target_operation {
	OP_DATABASE_INGEST,
	OP_SOURCE_INGEST
};

struct plan_target {
	const struct ktx_connection	*conn;	/* points into the config */
	enum target_operation		 operation;
	int				 stage;	/* 1 or 2 */
	const char			*adapter;	/* "live-database", "dbt", ..., "command" */
};

struct plan {
	char			*project_dir;
	struct plan_target	*targets;
	size_t			 ntargets;
	int			 max_concurrency;
};

/*
 * Select the named connections (all when nnames is 0) and order them.
 * jobs > 0 overrides the configured concurrency.  On failure return -1 with
 * a message in *errmsg (caller frees).
 */
int	 plan_build(const struct ktx_config *, const char *project_dir,
	    char *const *names, size_t nnames, int jobs, struct plan *, char **errmsg);
void	 plan_release(struct plan *);

const char *plan_operation_name(enum target_operation);
/*
 * ktx's sourceKey of a connection, which names its raw snapshots
 * (raw-sources/<conn>/<sourceKey>/<syncId>/) and its commits: live-database
 * for a database, metabase for local_metabase, else the driver.  An
 * external adapter command does not change it.
 */
const char *plan_source_key(const struct ktx_connection *);
/* The plan as JSON: {projectDir, maxConcurrency, targets: [...]}.  Caller frees. */
cJSON	*plan_to_json(const struct plan *);
void	 plan_print_table(const struct plan *, FILE *);

#endif
