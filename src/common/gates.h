/*
 * The final artifact gates: what a target leaves in its session worktree
 * must pass them, inside the final window, before it is squashed into main.
 *
 * All problems are collected; a failure is one message
 *   final artifact gates failed:
 *   <item>
 *   <item> ...
 * with items in this order (each group sorted as noted):
 *  1. paths the target changed (sorted bytewise): absolute paths,
 *     ".." components, symbolic links anywhere on the path, files that are
 *     not regular, files outside wiki/, semantic-layer/ and raw-sources/,
 *     files under raw-sources/ outside snapshot_dir (when it is set: no
 *     target changes another one's snapshot or an older one),
 *     binary or non-UTF-8 files under wiki/ and semantic-layer/, files over
 *     GATES_TEXT_MAX_BYTES (wiki/, semantic-layer/) or GATES_RAW_MAX_BYTES
 *     (raw-sources/);
 *  2. the semantic layer: load errors of changed files that declare no
 *     source, then per touched connection (sorted) ktx's
 *     "semantic-layer validation failed for <conn>:<source>: ..." lines,
 *     which carry duplicate sources, joins to missing sources and overlays
 *     no manifest entry backs (ktx drops such an overlay with a warning;
 *     we fail it, DESIGN section 9);
 *  3. changed wiki pages that do not parse or lack summary / usage_mode;
 *  4. per page (sorted by key), ktx's sl_refs errors; then one line
 *     "wiki references target missing page(s): <page> -> <ref>, ..." for
 *     refs and [[key]] links; then per page the body reference errors;
 *  5. provenance raw paths outside this snapshot, in the order given.
 *
 * Scope, so that the cost follows what changed: the semantic layer is
 * loaded once, and only when something needs it; changed pages are
 * validated fully; all pages of wiki/global are validated (references
 * only) when a semantic-layer file changed or a page was removed, ktx's
 * rule.  Touched semantic-layer sources are the names the changed files
 * declare; a connection where a manifest shard changed or a file was
 * removed has all its sources touched, since what a removed file declared
 * is no longer known.
 */
#ifndef KTX_GATES_H
#define KTX_GATES_H

#include <stddef.h>

#include "util.h"

#define GATES_PREFIX		"final artifact gates failed:"
/* Wiki pages and semantic-layer files: text a person reviews in a diff. */
#define GATES_TEXT_MAX_BYTES	(8 * 1024 * 1024)
/* Raw snapshots: exports and API dumps; a dbt manifest is tens of MiB. */
#define GATES_RAW_MAX_BYTES	(256 * 1024 * 1024)

enum gate_change {
	GATE_ADDED,
	GATE_MODIFIED,
	GATE_DELETED
};

/* A path the target changed against its base, as git reports it (unquoted). */
struct gate_path {
	enum gate_change	 change;
	const char		*path;
};

struct gate_input {
	const char		*worktree;	/* the session worktree's root */
	const struct gate_path	*changed;
	size_t			 nchanged;
	/*
	 * The connections whose semantic layer wiki references may name:
	 * sl_refs and body references without "<conn>/" search them in
	 * order.  NULL: every connection with a directory under
	 * semantic-layer/.
	 */
	const struct strv	*connections;
	/*
	 * Provenance: the raw paths the target recorded, relative to
	 * snapshot_dir as ktx stores them, and that snapshot,
	 * "raw-sources/<conn>/<sourceKey>/<syncId>".  snapshot_dir NULL: the
	 * target recorded none (raw_paths must then be NULL or empty).
	 */
	const char		*snapshot_dir;
	const struct strv	*raw_paths;
};

/* What a run of the gates looked at, for the trace. */
struct gate_report {
	size_t	 pages_checked;
	int	 all_pages;		/* every global page was validated */
	int	 sl_loaded;
	size_t	 nerrors;
};

/*
 * Whether rel is a regular file under root with no symbolic link on its
 * way (rel itself included): what a changed path must be.
 */
int	 gates_regular_file(const char *root, const char *rel);

/*
 * Run every gate.  0: all passed.  -1: *errmsg holds the one message
 * above (also when the tree could not be read: that is an item too).
 * Caller frees *errmsg.
 */
int	 gates_run(const struct gate_input *in, struct gate_report *report,
	    char **errmsg);

#endif
