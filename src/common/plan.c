#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plan.h"

static const char *const database_steps[] = { "database-schema" };
static const char *const source_steps[] = { "source-ingest" };

/*
 * How a connection is ingested.  The driver's kind sets the stage; an
 * external adapter command replaces the built-in adapter, not the stage, so
 * a database behind a command still runs before every source.  A source's
 * adapter is named after its driver (local_metabase reads Metabase's
 * formats), also where this build has none: the run reports that.
 */
const char *
plan_source_key(const struct ktx_connection *conn)
{
	if (conn->kind == DRIVER_DATABASE)
		return "live-database";
	return strcmp(conn->driver, "local_metabase") == 0 ? "metabase" :
	    conn->driver;
}

static void
target_init(struct plan_target *t, const struct ktx_connection *conn)
{
	t->conn = conn;
	t->operation = conn->kind == DRIVER_DATABASE ? OP_DATABASE_INGEST :
	    OP_SOURCE_INGEST;
	t->adapter = plan_source_key(conn);
	if (conn->adapter_command.n > 0)
		t->adapter = "command";
	t->stage = t->operation == OP_DATABASE_INGEST ? 1 : 2;
}

static int
target_cmp(const void *a, const void *b)
{
	const struct plan_target	*ta = a, *tb = b;

	if (ta->stage != tb->stage)
		return ta->stage < tb->stage ? -1 : 1;
	return strcmp(ta->conn->id, tb->conn->id);
}

int
plan_build(const struct ktx_config *cfg, const char *project_dir,
    char *const *names, size_t nnames, int jobs, struct plan *plan,
    char **errmsg)
{
	char	*selected = NULL;
	size_t	 i, j;
	int	 rv = -1;

	memset(plan, 0, sizeof(*plan));
	*errmsg = NULL;
	if (cfg->nconnections == 0 && nnames == 0) {
		*errmsg = xstrdup("no connections are configured in ktx.yaml");
		goto out;
	}

	selected = xcalloc(cfg->nconnections, 1);
	for (i = 0; i < nnames; i++) {
		for (j = 0; j < cfg->nconnections; j++)
			if (strcmp(cfg->connections[j].id, names[i]) == 0)
				break;
		if (j == cfg->nconnections) {
			xasprintf(errmsg, "connection \"%s\" is not configured"
			    " in ktx.yaml", names[i]);
			goto out;
		}
		selected[j] = 1;
	}

	plan->targets = xcalloc(cfg->nconnections, sizeof(*plan->targets));
	for (j = 0; j < cfg->nconnections; j++) {
		if (nnames > 0 && !selected[j])
			continue;
		target_init(&plan->targets[plan->ntargets++],
		    &cfg->connections[j]);
	}
	qsort(plan->targets, plan->ntargets, sizeof(*plan->targets),
	    target_cmp);

	plan->project_dir = xstrdup(project_dir);
	if (jobs > 0)
		plan->max_concurrency = jobs;
	else if (cfg->max_concurrency > 0)
		plan->max_concurrency = cfg->max_concurrency;
	else
		plan->max_concurrency = KTX_MAX_CONCURRENCY_MIN;
	rv = 0;
out:
	free(selected);
	if (rv == -1)
		plan_release(plan);
	return rv;
}

void
plan_release(struct plan *plan)
{
	free(plan->project_dir);
	free(plan->targets);
	memset(plan, 0, sizeof(*plan));
}

const char *
plan_operation_name(enum target_operation op)
{
	return op == OP_DATABASE_INGEST ? "database-ingest" : "source-ingest";
}

static const char *
target_source_dir(const struct plan_target *t)
{
	const char	*dir = t->conn->source_dir;

	return dir != NULL && *dir != '\0' ? dir : NULL;
}

static cJSON *
target_to_json(const struct plan_target *t)
{
	cJSON			*obj, *steps;
	const char *const	*stepv;
	size_t			 nsteps, i;
	const char		*dir;

	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "connectionId", t->conn->id);
	cJSON_AddStringToObject(obj, "driver", t->conn->driver);
	cJSON_AddStringToObject(obj, "operation",
	    plan_operation_name(t->operation));
	cJSON_AddStringToObject(obj, "adapter", t->adapter);
	if ((dir = target_source_dir(t)) != NULL)
		cJSON_AddStringToObject(obj, "sourceDir", dir);
	else
		cJSON_AddNullToObject(obj, "sourceDir");
	if (t->operation == OP_DATABASE_INGEST) {
		stepv = database_steps;
		nsteps = sizeof(database_steps) / sizeof(database_steps[0]);
	} else {
		stepv = source_steps;
		nsteps = sizeof(source_steps) / sizeof(source_steps[0]);
	}
	steps = cJSON_AddArrayToObject(obj, "steps");
	for (i = 0; i < nsteps; i++)
		cJSON_AddItemToArray(steps, cJSON_CreateString(stepv[i]));
	cJSON_AddNumberToObject(obj, "stage", t->stage);
	return obj;
}

cJSON *
plan_to_json(const struct plan *plan)
{
	cJSON	*obj, *targets;
	size_t	 i;

	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "projectDir", plan->project_dir);
	cJSON_AddNumberToObject(obj, "maxConcurrency", plan->max_concurrency);
	targets = cJSON_AddArrayToObject(obj, "targets");
	for (i = 0; i < plan->ntargets; i++)
		cJSON_AddItemToArray(targets,
		    target_to_json(&plan->targets[i]));
	return obj;
}

enum { COL_CONN, COL_STAGE, COL_DRIVER, COL_OP, COL_ADAPTER, COL_DIR, NCOLS };

static void
target_cells(const struct plan_target *t, const char *cells[NCOLS],
    char stage[2])
{
	const char	*dir = target_source_dir(t);

	stage[0] = '0' + t->stage;
	stage[1] = '\0';
	cells[COL_CONN] = t->conn->id;
	cells[COL_STAGE] = stage;
	cells[COL_DRIVER] = t->conn->driver;
	cells[COL_OP] = plan_operation_name(t->operation);
	cells[COL_ADAPTER] = t->adapter;
	cells[COL_DIR] = dir != NULL ? dir : "-";
}

static void
print_row(FILE *fp, const char *cells[NCOLS], const size_t width[NCOLS])
{
	int	c;

	for (c = 0; c < NCOLS - 1; c++)
		fprintf(fp, "%-*s  ", (int)width[c], cells[c]);
	fprintf(fp, "%s\n", cells[NCOLS - 1]);
}

void
plan_print_table(const struct plan *plan, FILE *fp)
{
	static const char	*header[NCOLS] = {
		"CONNECTION", "STAGE", "DRIVER", "OPERATION", "ADAPTER",
		"SOURCE DIR"
	};
	const char		*cells[NCOLS];
	char			 stage[2];
	size_t			 width[NCOLS], i, ndb = 0, len;
	int			 c;

	for (c = 0; c < NCOLS; c++)
		width[c] = strlen(header[c]);
	for (i = 0; i < plan->ntargets; i++) {
		target_cells(&plan->targets[i], cells, stage);
		for (c = 0; c < NCOLS; c++)
			if ((len = strlen(cells[c])) > width[c])
				width[c] = len;
		if (plan->targets[i].stage == 1)
			ndb++;
	}

	fprintf(fp, "project %s\n\n", plan->project_dir);
	print_row(fp, header, width);
	for (i = 0; i < plan->ntargets; i++) {
		target_cells(&plan->targets[i], cells, stage);
		print_row(fp, cells, width);
	}
	fprintf(fp, "\n%zu target%s: stage 1 runs %zu database target%s one at"
	    " a time, stage 2 runs %zu source target%s with maxConcurrency"
	    " %d\n",
	    plan->ntargets, plan->ntargets == 1 ? "" : "s",
	    ndb, ndb == 1 ? "" : "s",
	    plan->ntargets - ndb, plan->ntargets - ndb == 1 ? "" : "s",
	    plan->max_concurrency);
}
