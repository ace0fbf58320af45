/*
 * One pack for many new blobs (packwrite.h).  The stream is git's pack
 * format, version 2, without deltas: a header, each object's type and
 * size then its zlib data, and a SHA-1 of everything before it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "packwrite.h"
#include "util.h"

#define OBJ_BLOB	3

struct packwrite_entry {
	git_oid		 oid;
	size_t		 size;		/* of the blob */
	size_t		 zoff, zlen;	/* its deflated bytes in z */
};

int
packwrite_add_blob(struct packwrite *pw, const void *data, size_t len,
    const git_oid *oid)
{
	uLongf	zlen;

	zlen = compressBound((uLong)len);
	while (pw->zcap - pw->zlen < zlen) {
		pw->zcap = pw->zcap ? pw->zcap * 2 : 1 << 20;
		pw->z = xreallocarray(pw->z, pw->zcap, 1);
	}
	/* Fast, as git writes loose objects (core.compression unset). */
	if (compress2(pw->z + pw->zlen, &zlen, data, (uLong)len,
	    Z_BEST_SPEED) != Z_OK)
		return -1;
	if (pw->n == pw->cap) {
		pw->cap = pw->cap ? pw->cap * 2 : 256;
		pw->v = xreallocarray(pw->v, pw->cap, sizeof(*pw->v));
	}
	git_oid_cpy(&pw->v[pw->n].oid, oid);
	pw->v[pw->n].size = len;
	pw->v[pw->n].zoff = pw->zlen;
	pw->v[pw->n++].zlen = zlen;
	pw->zlen += zlen;
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct packwrite_entry *)a)->oid,
	    &((const struct packwrite_entry *)b)->oid);
}

/* Hash and hand on a piece of the stream. */
static int
feed(git_odb_writepack *wp, EVP_MD_CTX *sha, const void *p, size_t len,
    git_indexer_progress *stats)
{
	if (EVP_DigestUpdate(sha, p, len) != 1)
		return -1;
	return wp->append(wp, p, len, stats);
}

int
packwrite_commit(struct packwrite *pw, git_odb *odb, char **errmsg)
{
	git_indexer_progress	 stats;
	git_odb_writepack	*wp = NULL;
	EVP_MD_CTX		*sha = NULL;
	const git_error		*ge;
	unsigned char		 hdr[16], md[EVP_MAX_MD_SIZE];
	size_t			 i, n = 0, size, k;
	int			 rc = -1;

	if (pw->n == 0)
		return 0;
	qsort(pw->v, pw->n, sizeof(*pw->v), entry_cmp);
	for (i = 0; i < pw->n; i++)
		if (n == 0 || !git_oid_equal(&pw->v[n - 1].oid, &pw->v[i].oid))
			pw->v[n++] = pw->v[i];
	pw->n = n;
	memset(&stats, 0, sizeof(stats));
	if ((sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(sha, EVP_sha1(), NULL) != 1)
		goto fail;
	if (git_odb_write_pack(&wp, odb, NULL, NULL) < 0)
		goto fail;
	memcpy(hdr, "PACK\0\0\0\2", 8);
	hdr[8] = (unsigned char)(n >> 24);
	hdr[9] = (unsigned char)(n >> 16);
	hdr[10] = (unsigned char)(n >> 8);
	hdr[11] = (unsigned char)n;
	if (feed(wp, sha, hdr, 12, &stats) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		/* Type and size: 4 bits of size, then 7 a byte. */
		size = pw->v[i].size;
		k = 0;
		hdr[k] = (unsigned char)(OBJ_BLOB << 4 | (size & 0x0f));
		for (size >>= 4; size != 0; size >>= 7) {
			hdr[k++] |= 0x80;
			hdr[k] = size & 0x7f;
		}
		if (feed(wp, sha, hdr, k + 1, &stats) < 0 ||
		    feed(wp, sha, pw->z + pw->v[i].zoff, pw->v[i].zlen,
		    &stats) < 0)
			goto fail;
	}
	if (EVP_DigestFinal_ex(sha, md, NULL) != 1 ||
	    wp->append(wp, md, 20, &stats) < 0 || wp->commit(wp, &stats) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	ge = git_error_last();
	xasprintf(errmsg, "cannot write a pack of %zu objects: %s", n,
	    ge != NULL && ge->message != NULL ? ge->message : "zlib or SHA-1");
	git_error_clear();
out:
	if (wp != NULL)
		wp->free(wp);
	EVP_MD_CTX_free(sha);
	return rc;
}

void
packwrite_release(struct packwrite *pw)
{
	free(pw->z);
	free(pw->v);
	memset(pw, 0, sizeof(*pw));
}
