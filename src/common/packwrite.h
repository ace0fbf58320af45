/*
 * New blobs written as one pack instead of a loose object each.  A scan
 * commits thousands of new files at once; as loose objects that is a
 * file, a link, an unlink and a directory lookup per blob, and the
 * checkout into the project opens each again.  Collected here, deflated
 * as they come, they go to the object database in one git_odb_write_pack
 * (libgit2's indexer checks the stream and writes the .pack and .idx).
 */
#ifndef KTX_PACKWRITE_H
#define KTX_PACKWRITE_H

#include <stddef.h>

#include <git2.h>

struct packwrite_entry;

struct packwrite {
	unsigned char		*z;		/* deflated objects, back to back */
	size_t			 zlen, zcap;
	struct packwrite_entry	*v;
	size_t			 n, cap;
};

/*
 * Add the blob data[0..len) whose id is oid (git_odb_hash).  0, or -1 when
 * zlib fails.  The same blob added twice goes into the pack once.
 */
int	 packwrite_add_blob(struct packwrite *pw, const void *data, size_t len,
	    const git_oid *oid);

/*
 * Write what was added as one pack into odb (nothing when nothing was
 * added).  0, or -1 with *errmsg.  The blobs exist in odb afterwards.
 */
int	 packwrite_commit(struct packwrite *pw, git_odb *odb, char **errmsg);

void	 packwrite_release(struct packwrite *pw);

#endif
