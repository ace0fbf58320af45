/*
 * Ingest traces: .ktx/ingest-traces/<jobId>/trace.jsonl in the project, one
 * JSON object a line, appended, with ktx's fields in ktx's order:
 *
 *   {"schemaVersion":1,"at":"<ISO 8601 UTC, ms>","level":"info",
 *    "jobId":...,"connectionId":...,"sourceKey":...,"runId":...,
 *    "syncId":...,"phase":...,"event":...,"durationMs":N,"data":{...},
 *    "error":{"name":"Error","message":...}}
 *
 * runId and syncId appear once known, durationMs, data and error only when
 * given.  An event is written when its level ranks at or below the
 * trace's (error < info < debug < trace), which comes from
 * KTX_INGEST_TRACE_LEVEL (default debug).  Each line goes out in one
 * write(2) on an O_APPEND descriptor, so a supervisor appending to the
 * trace of a worker that died cannot tear a line.  A trace that cannot be
 * written is a warning, never a failure of the target.
 */
#ifndef KTX_TRACE_H
#define KTX_TRACE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#define TRACE_SCHEMA_VERSION	1
#define TRACE_DIR		".ktx/ingest-traces"
#define TRACE_FILE		"trace.jsonl"
#define TRACE_LEVEL_ENV		"KTX_INGEST_TRACE_LEVEL"

enum trace_level {
	TRACE_ERROR,
	TRACE_INFO,
	TRACE_DEBUG,
	TRACE_TRACE
};

/* Safe to close when zeroed (fd 0 is never a trace: see trace_open). */
struct trace {
	int		 fd;		/* -1 or 0: not writing */
	char		*path;		/* the trace file, absolute */
	enum trace_level level;
	char		*job_id;
	char		*connection_id;
	char		*source_key;
	char		*run_id;	/* or NULL */
	char		*sync_id;	/* or NULL */
};

/* A timed step: <name>_started, then <name>_finished or <name>_failed. */
struct trace_span {
	const char	*phase;
	const char	*name;
	int64_t		 start_ms;	/* monotonic */
};

/*
 * "error", "info", "debug" or "trace" (case-insensitive); NULL or ""
 * gives the default, debug.  Returns -1 for anything else.
 */
int	 trace_level_parse(const char *, enum trace_level *);
const char *trace_level_name(enum trace_level);

/*
 * The trace path of a job: <project_dir>/.ktx/ingest-traces/<jobId>/
 * trace.jsonl.  Caller frees.
 */
char	*trace_path(const char *project_dir, const char *job_id);

/*
 * Open (create or append to) the job's trace, its directories created.
 * Returns 0, or -1 with *errmsg (caller frees): t is then a trace that
 * writes nothing, still safe to use and to close.
 */
int	 trace_open(struct trace *t, const char *project_dir,
	    const char *job_id, const char *connection_id,
	    const char *source_key, const char *run_id, enum trace_level,
	    char **errmsg);
void	 trace_set_sync_id(struct trace *, const char *sync_id);
void	 trace_close(struct trace *);

/* Whether an event of that level would be written. */
int	 trace_enabled(const struct trace *, enum trace_level);

/*
 * Append one event.  duration_ms < 0: none.  data (an object, taken and
 * freed) and error (a message) may be NULL.
 */
void	 trace_event(struct trace *, enum trace_level, const char *phase,
	    const char *event, int64_t duration_ms, cJSON *data,
	    const char *error);

/* Timed steps; each takes data (may be NULL). */
void	 trace_begin(struct trace *, struct trace_span *, const char *phase,
	    const char *name, cJSON *data);
/* Milliseconds since trace_begin. */
int64_t	 trace_elapsed(const struct trace_span *);
void	 trace_end(struct trace *, const struct trace_span *, cJSON *data);
void	 trace_fail(struct trace *, const struct trace_span *,
	    const char *error, cJSON *data);

#endif
