/*
 * A repository's index file, read and rewritten as bytes for the final
 * window's small updates.  libgit2 parses every entry into a hash map and
 * checksums the whole file with SHA-1DC on every read and on every write;
 * at 50,000 files that costs more than the rest of the window.  Here the
 * file stays a buffer, entries are found by binary search, and a write
 * copies it with the changed entries replaced, the cache tree invalidated
 * along their paths and a new checksum.  What this does not know (index
 * version 4, split or sparse indexes) is reported as unsupported, and the
 * caller falls back to libgit2.
 *
 * Used by gitops only.  Functions return 0 on success, -1 on failure (with
 * *errmsg as in gitops.h) and GITINDEX_UNSUPPORTED where noted.
 */
#ifndef KTX_GITINDEX_H
#define KTX_GITINDEX_H

#include <sys/stat.h>

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define GITINDEX_UNSUPPORTED	1
#define GITINDEX_OIDSZ		20

/* The index file as read.  Safe to release when zeroed. */
struct gitindex {
	char		*path;
	unsigned char	*buf;
	size_t		 len;
	unsigned	 version;
	int64_t		 mtime;		/* seconds, of the file as read */
	mode_t		 file_mode;
	size_t		 n;
	size_t		*off;		/* entry offsets, in file (sorted) order */
	size_t		 ext;		/* where the extensions start */
	int		 unmerged;	/* some entry has a stage */
};

/* What an entry says (stage-0 entries). */
struct gitindex_entry {
	unsigned char	 oid[GITINDEX_OIDSZ];
	uint32_t	 mode;
	uint32_t	 size;
	uint32_t	 mtime_sec;
	uint32_t	 mtime_nsec;
	uint32_t	 ino;
	int		 special;	/* skip-worktree or intent-to-add */
};

/*
 * Read the index file at path.  A missing file, version 4, a required
 * extension (split index "link", sparse "sdir") or a sparse directory
 * entry give GITINDEX_UNSUPPORTED.  As git does outside fsck, the
 * trailing checksum is not verified.  After a failure ix is empty (its
 * release is then a no-op).
 */
int	 gitindex_load(struct gitindex *, const char *path, char **errmsg);
void	 gitindex_release(struct gitindex *);

/* The stage-0 entry of path into *e: 1 when there is one, else 0. */
int	 gitindex_get(const struct gitindex *, const char *path,
	    struct gitindex_entry *e);

/* The paths with staged entries (unmerged), sorted, appended to out. */
void	 gitindex_unmerged(const struct gitindex *, struct strv *out);

/*
 * Whether the entry's stat data cannot prove the file unchanged: it was
 * modified in the same second as the index file or later (racy git).
 */
int	 gitindex_racy(const struct gitindex *, const struct gitindex_entry *);

/* One path to set (oid, mode and the stat of the file written) or remove. */
struct gitindex_update {
	const char	*path;
	int		 remove;
	unsigned char	 oid[GITINDEX_OIDSZ];
	uint32_t	 mode;		/* 0100644, 0100755 or 0120000 */
	struct stat	 st;
};

/*
 * Write the index with updates applied, through <path>.lock renamed over
 * it.  updates are sorted by path (strcmp), unique, and name paths without
 * staged entries.  Entries whose stat data became racy are smudged (size
 * 0) as git does, so a later same-second edit is still seen.
 */
int	 gitindex_write(struct gitindex *, const struct gitindex_update *,
	    size_t nupdates, char **errmsg);

#endif
