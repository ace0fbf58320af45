/*
 * The sentinel of a kept session worktree: <worktree>/.ktx-outcome, what
 * ktx leaves beside a session it did not squash.  Pretty JSON (2-space
 * indent, no final newline, as ktx writes it):
 *
 *   {
 *     "outcome": "conflict",
 *     "at": "2024-05-31T12:00:00.000Z",
 *     "jobId": "20240531T120000Z-1a2b3c-notion",
 *     "baseSha": "<40 hex>",
 *     "conflictPaths": [
 *       "wiki/global/x.md"
 *     ],
 *     "reason": "source refresh conflict before before_reconciliation: ..."
 *   }
 *
 * outcome is conflict, crash, aborted or timeout; baseSha and reason may
 * be null.  The worker writes it when a target fails after its session
 * exists; the supervisor writes it (plain file work, no libgit2) for a
 * worker that died without reporting.
 */
#ifndef KTX_SENTINEL_H
#define KTX_SENTINEL_H

#include <stdint.h>

#include "util.h"

#define SENTINEL_FILE	".ktx-outcome"

struct sentinel {
	const char		*outcome;
	int64_t			 at_ms;		/* wall clock */
	const char		*job_id;
	const char		*base_sha;	/* or NULL */
	const struct strv	*conflict_paths;	/* or NULL: none */
	const char		*reason;	/* or NULL */
};

/* The sentinel's text.  Caller frees. */
char	*sentinel_text(const struct sentinel *);

/*
 * Write it to <worktree>/.ktx-outcome through a temporary file and a
 * rename.  Returns 0, or -1 with *errmsg (caller frees).
 */
int	 sentinel_write(const char *worktree, const struct sentinel *,
	    char **errmsg);

/*
 * Rewrite the sentinel in worktree with another outcome and reason (the
 * supervisor knows better why it stopped a worker), its other members
 * kept.  Returns 0, or -1 with *errmsg (caller frees) when it cannot be
 * read, parsed or written.
 */
int	 sentinel_update(const char *worktree, const char *outcome,
	    const char *reason, char **errmsg);

/* A sentinel read back.  Safe to release when zeroed. */
struct sentinel_info {
	char		*outcome;	/* NULL when not a string */
	int64_t		 at_ms;		/* -1 when "at" is not a time */
	char		*job_id;
	char		*base_sha;	/* or NULL */
	struct strv	 conflict_paths;
	char		*reason;	/* or NULL */
};
void	 sentinel_info_release(struct sentinel_info *);

/*
 * Read <worktree>/.ktx-outcome.  Returns 0 with its members, 1 when there
 * is none, -1 with *errmsg (caller frees) when it cannot be read or is
 * not a sentinel.
 */
int	 sentinel_load(const char *worktree, struct sentinel_info *,
	    char **errmsg);

#endif
