/*
 * The index file as bytes: see gitindex.h, and git's
 * Documentation/gitformat-index.txt for the format (versions 2 and 3).
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gitindex.h"
#include "util.h"

#define HEADER_SIZE	12
#define ENTRY_FIXED	62	/* stat data, oid and flags */
#define FLAG_EXTENDED	0x4000
#define FLAG_STAGE(f)	(((f) >> 12) & 3)
#define NAME_MASK	0xfff
#define XFLAG_SPECIAL	0x6000	/* skip-worktree, intent-to-add */

static int __attribute__((format(printf, 2, 3)))
fail(char **errmsg, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	if (errmsg == NULL)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = xstrdup("out of memory");
	va_end(ap);
	free(*errmsg);
	*errmsg = s;
	return -1;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = v >> 8;
	p[1] = v;
}

/* An entry's name, its length, and the entry's size in the file. */
struct raw {
	const unsigned char	*p;
	const char		*name;
	size_t			 namelen;
	size_t			 size;
	unsigned		 flags;
	unsigned		 xflags;
};

/* Parse the entry at off; 0, or -1 when it does not fit in [off, end). */
static int
parse_entry(const struct gitindex *ix, size_t off, size_t end, struct raw *e)
{
	const unsigned char	*nul;
	size_t			 hdr = ENTRY_FIXED;

	if (end - off < ENTRY_FIXED + 2)
		return -1;
	e->p = ix->buf + off;
	e->flags = get16(e->p + 60);
	e->xflags = 0;
	if (e->flags & FLAG_EXTENDED) {
		if (ix->version < 3)
			return -1;
		e->xflags = get16(e->p + ENTRY_FIXED);
		hdr += 2;
	}
	if (end - off < hdr + 1)
		return -1;
	e->name = (const char *)e->p + hdr;
	e->namelen = e->flags & NAME_MASK;
	if (e->namelen == NAME_MASK) {
		nul = memchr(e->name, '\0', end - off - hdr);
		if (nul == NULL)
			return -1;
		e->namelen = (size_t)(nul - (const unsigned char *)e->name);
	}
	e->size = (hdr + e->namelen + 8) & ~(size_t)7;
	if (e->size > end - off || e->name[e->namelen] != '\0')
		return -1;
	return 0;
}

static void
entry_at(const struct gitindex *ix, size_t i, struct raw *e)
{
	/* Every offset was parsed at load time. */
	parse_entry(ix, ix->off[i], ix->ext, e);
}

/* git's order of names: bytes, then the shorter first. */
static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int	c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

void
gitindex_release(struct gitindex *ix)
{
	free(ix->path);
	if (ix->buf != NULL)
		munmap(ix->buf, ix->len);
	free(ix->off);
	memset(ix, 0, sizeof(*ix));
}

int
gitindex_load(struct gitindex *ix, const char *path, char **errmsg)
{
	struct stat	 sb;
	struct raw	 e;
	size_t		 off, end, i, count;
	uint32_t	 size;
	int		 fd, rc = -1;

	memset(ix, 0, sizeof(*ix));
	ix->path = xstrdup(path);
	if ((fd = open(path, O_RDONLY)) == -1) {
		if (errno == ENOENT) {
			rc = GITINDEX_UNSUPPORTED;
			goto out;
		}
		fail(errmsg, "cannot open \"%s\": %s", path, strerror(errno));
		goto out;
	}
	/* Mapped, not read: most of it is only ever passed through. */
	if (fstat(fd, &sb) == -1) {
		fail(errmsg, "cannot read \"%s\": %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	if ((size_t)sb.st_size < HEADER_SIZE + GITINDEX_OIDSZ) {
		close(fd);
		goto corrupt;
	}
	ix->buf = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (ix->buf == MAP_FAILED) {
		ix->buf = NULL;
		fail(errmsg, "cannot read \"%s\": %s", path, strerror(errno));
		goto out;
	}
	ix->len = (size_t)sb.st_size;
	ix->mtime = sb.st_mtim.tv_sec;
	ix->file_mode = sb.st_mode & 07777;
	if (ix->len < HEADER_SIZE + GITINDEX_OIDSZ ||
	    memcmp(ix->buf, "DIRC", 4) != 0)
		goto corrupt;
	ix->version = get32(ix->buf + 4);
	if (ix->version != 2 && ix->version != 3) {
		rc = GITINDEX_UNSUPPORTED;
		goto out;
	}
	/* Like git, which checks the trailing checksum only in fsck. */
	end = ix->len - GITINDEX_OIDSZ;
	count = get32(ix->buf + 8);
	if (count > (end - HEADER_SIZE) / (ENTRY_FIXED + 2))
		goto corrupt;
	ix->off = xcalloc(count + 1, sizeof(*ix->off));
	off = HEADER_SIZE;
	for (i = 0; i < count; i++) {
		if (parse_entry(ix, off, end, &e) == -1)
			goto corrupt;
		/* Sparse-index directory entries are not files. */
		if ((get32(e.p + 24) & 0170000) == 0040000) {
			rc = GITINDEX_UNSUPPORTED;
			goto out;
		}
		if (FLAG_STAGE(e.flags) != 0)
			ix->unmerged = 1;
		ix->off[i] = off;
		off += e.size;
	}
	ix->off[count] = off;	/* where the last entry ends */
	ix->n = count;
	ix->ext = off;
	/* Extensions: an unknown optional one is dropped, a required one stops us. */
	while (off < end) {
		if (end - off < 8)
			goto corrupt;
		size = get32(ix->buf + off + 4);
		if (ix->buf[off] < 'A' || ix->buf[off] > 'Z') {
			rc = GITINDEX_UNSUPPORTED;
			goto out;
		}
		if (size > end - off - 8)
			goto corrupt;
		off += 8 + size;
	}
	rc = 0;
	goto out;
corrupt:
	fail(errmsg, "\"%s\": corrupt index", path);
out:
	if (rc != 0)
		gitindex_release(ix);
	return rc;
}

/* The first entry from lo whose name is >= name (any stage). */
static size_t
lower_bound(const struct gitindex *ix, size_t lo, const char *name,
    size_t len)
{
	struct raw	e;
	size_t		hi = ix->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		entry_at(ix, mid, &e);
		if (name_cmp(e.name, e.namelen, name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
gitindex_get(const struct gitindex *ix, const char *path,
    struct gitindex_entry *out)
{
	struct raw	e;
	size_t		len = strlen(path), i;

	i = lower_bound(ix, 0, path, len);
	if (i >= ix->n)
		return 0;
	entry_at(ix, i, &e);
	if (name_cmp(e.name, e.namelen, path, len) != 0 ||
	    FLAG_STAGE(e.flags) != 0)
		return 0;
	memcpy(out->oid, e.p + 40, GITINDEX_OIDSZ);
	out->mode = get32(e.p + 24);
	out->size = get32(e.p + 36);
	out->mtime_sec = get32(e.p + 8);
	out->mtime_nsec = get32(e.p + 12);
	out->ino = get32(e.p + 20);
	out->special = (e.xflags & XFLAG_SPECIAL) != 0;
	return 1;
}

void
gitindex_unmerged(const struct gitindex *ix, struct strv *out)
{
	struct raw	e;
	size_t		i;

	if (!ix->unmerged)
		return;
	for (i = 0; i < ix->n; i++) {
		entry_at(ix, i, &e);
		if (FLAG_STAGE(e.flags) == 0)
			continue;
		if (out->n > 0 && strlen(out->v[out->n - 1]) == e.namelen &&
		    memcmp(out->v[out->n - 1], e.name, e.namelen) == 0)
			continue;
		strv_push_owned(out, xstrndup(e.name, e.namelen));
	}
}

int
gitindex_racy(const struct gitindex *ix, const struct gitindex_entry *e)
{
	/* Seconds only, as git compares without USE_NSEC. */
	return (int64_t)e->mtime_sec >= ix->mtime;
}

/* A growable output buffer. */
struct obuf {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
};

static unsigned char *
obuf_grow(struct obuf *o, size_t n)
{
	unsigned char	*at;

	if (o->cap - o->len < n) {
		while (o->cap - o->len < n)
			o->cap = o->cap ? o->cap * 2 : 4096;
		o->p = xreallocarray(o->p, o->cap, 1);
	}
	at = o->p + o->len;
	o->len += n;
	return at;
}

static void
obuf_add(struct obuf *o, const void *p, size_t n)
{
	memcpy(obuf_grow(o, n), p, n);
}

static void
emit_new(struct obuf *o, const struct gitindex_update *u)
{
	size_t		 len = strlen(u->path);
	size_t		 size = (ENTRY_FIXED + len + 8) & ~(size_t)7;
	unsigned char	*p = obuf_grow(o, size);

	memset(p, 0, size);
	put32(p + 0, (uint32_t)u->st.st_ctim.tv_sec);
	put32(p + 4, (uint32_t)u->st.st_ctim.tv_nsec);
	put32(p + 8, (uint32_t)u->st.st_mtim.tv_sec);
	put32(p + 12, (uint32_t)u->st.st_mtim.tv_nsec);
	put32(p + 16, (uint32_t)u->st.st_dev);
	put32(p + 20, (uint32_t)u->st.st_ino);
	put32(p + 24, u->mode);
	put32(p + 28, (uint32_t)u->st.st_uid);
	put32(p + 32, (uint32_t)u->st.st_gid);
	put32(p + 36, (uint32_t)u->st.st_size);
	memcpy(p + 40, u->oid, GITINDEX_OIDSZ);
	put16(p + 60, len < NAME_MASK ? (unsigned)len : NAME_MASK);
	memcpy(p + ENTRY_FIXED, u->path, len);
}

/* Whether some update lies under directory dir (len 0: the root). */
static int
touches_dir(const struct gitindex_update *u, size_t n, const char *dir,
    size_t len)
{
	size_t	i;

	if (len == 0)
		return n > 0;
	for (i = 0; i < n; i++)
		if (strncmp(u[i].path, dir, len) == 0 && u[i].path[len] == '/')
			return 1;
	return 0;
}

/*
 * Copy one cache-tree node and its subtrees from in[*pos, end), marking
 * invalid (-1, no id) every directory an update lies under.  -1 when the
 * extension does not parse: the caller then drops it.
 */
static int
copy_tree_node(struct obuf *o, const unsigned char *in, size_t *pos,
    size_t end, const char *parent, const struct gitindex_update *u,
    size_t n)
{
	const unsigned char	*name, *nl, *sp;
	char			*dir, count[48];
	long			 entries, subtrees, i;
	size_t			 namelen;
	int			 rc = -1;

	name = in + *pos;
	if ((nl = memchr(name, '\0', end - *pos)) == NULL)
		return -1;
	namelen = (size_t)(nl - name);
	*pos += namelen + 1;
	if ((nl = memchr(in + *pos, '\n', end - *pos)) == NULL ||
	    (sp = memchr(in + *pos, ' ', end - *pos)) == NULL || sp > nl)
		return -1;
	entries = strtol((const char *)in + *pos, NULL, 10);
	subtrees = strtol((const char *)sp + 1, NULL, 10);
	*pos = (size_t)(nl - in) + 1;
	if (subtrees < 0 || (entries >= 0 && end - *pos < GITINDEX_OIDSZ))
		return -1;
	if (*parent == '\0')
		xasprintf(&dir, "%.*s", (int)namelen, name);
	else
		xasprintf(&dir, "%s/%.*s", parent, (int)namelen, name);
	obuf_add(o, name, namelen + 1);
	if (entries >= 0 && touches_dir(u, n, dir, strlen(dir))) {
		snprintf(count, sizeof(count), "-1 %ld\n", subtrees);
		obuf_add(o, count, strlen(count));
	} else {
		snprintf(count, sizeof(count), "%ld %ld\n", entries, subtrees);
		obuf_add(o, count, strlen(count));
		if (entries >= 0)
			obuf_add(o, in + *pos, GITINDEX_OIDSZ);
	}
	if (entries >= 0)
		*pos += GITINDEX_OIDSZ;
	for (i = 0; i < subtrees; i++)
		if (*pos >= end || copy_tree_node(o, in, pos, end, dir, u,
		    n) == -1)
			goto out;
	rc = 0;
out:
	free(dir);
	return rc;
}

static void
copy_extensions(struct obuf *o, const struct gitindex *ix,
    const struct gitindex_update *u, size_t n)
{
	const unsigned char	*ext;
	struct obuf		 t = { NULL, 0, 0 };
	size_t			 off = ix->ext, end = ix->len - GITINDEX_OIDSZ;
	size_t			 size, pos;
	unsigned char		 hdr[8];

	while (off < end) {
		ext = ix->buf + off;
		size = get32(ext + 4);
		if (memcmp(ext, "TREE", 4) == 0) {
			t.len = 0;
			pos = 0;
			if (size == 0 || copy_tree_node(&t, ext + 8, &pos, size,
			    "", u, n) == 0) {
				memcpy(hdr, "TREE", 4);
				put32(hdr + 4, (uint32_t)t.len);
				obuf_add(o, hdr, 8);
				if (t.len > 0)
					obuf_add(o, t.p, t.len);
			}
		} else if (memcmp(ext, "REUC", 4) == 0)
			obuf_add(o, ext, 8 + size);
		/* Others (untracked cache, fsmonitor, offset tables) go. */
		off += 8 + size;
	}
	free(t.p);
}

/*
 * The new file as pieces: runs of the old buffer copied as they are, and
 * bytes made here (header, new and smudged entries, extensions) in an
 * arena.  Neither the 50,000 unchanged entries nor the checksum need a
 * copy of the whole file.
 */
struct piece {
	int		 arena;		/* off is in the arena, else in the old buffer */
	size_t		 off;
	size_t		 len;
};

struct pieces {
	struct piece	*v;
	size_t		 n;
	size_t		 cap;
	struct obuf	 arena;
};

static void
piece_add(struct pieces *ps, int arena, size_t off, size_t len)
{
	struct piece	*last = ps->n > 0 ? &ps->v[ps->n - 1] : NULL;

	if (len == 0)
		return;
	if (last != NULL && last->arena == arena && last->off + last->len == off) {
		last->len += len;
		return;
	}
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 64;
		ps->v = xreallocarray(ps->v, ps->cap, sizeof(*ps->v));
	}
	ps->v[ps->n].arena = arena;
	ps->v[ps->n].off = off;
	ps->v[ps->n++].len = len;
}

/* Append what obuf_* added to the arena since mark as a piece. */
static void
piece_arena(struct pieces *ps, size_t mark)
{
	piece_add(ps, 1, mark, ps->arena.len - mark);
}

/*
 * Old entries [from, to) as they are, in as few pieces as their order
 * allows: only a racily clean entry is copied, to make git look at its
 * content next time.  The rest is never parsed again.
 */
static void
emit_old_range(struct pieces *ps, const struct gitindex *ix, size_t from,
    size_t to)
{
	size_t	k, run = from, mark, size;

	for (k = from; k < to; k++) {
		if ((int64_t)get32(ix->buf + ix->off[k] + 8) < ix->mtime)
			continue;
		piece_add(ps, 0, ix->off[run], ix->off[k] - ix->off[run]);
		size = ix->off[k + 1] - ix->off[k];
		mark = ps->arena.len;
		obuf_add(&ps->arena, ix->buf + ix->off[k], size);
		put32(ps->arena.p + mark + 36, 0);
		piece_arena(ps, mark);
		run = k + 1;
	}
	piece_add(ps, 0, ix->off[run], ix->off[to] - ix->off[run]);
}

static const unsigned char *
piece_ptr(const struct pieces *ps, const struct gitindex *ix,
    const struct piece *pc)
{
	return (pc->arena ? ps->arena.p : ix->buf) + pc->off;
}

static int
write_pieces(int fd, const struct pieces *ps, const struct gitindex *ix)
{
	const unsigned char	*p;
	struct piece		 pc;
	size_t			 i;
	ssize_t			 n;

	for (i = 0; i < ps->n; i++) {
		pc = ps->v[i];
		while (pc.len > 0) {
			p = piece_ptr(ps, ix, &pc);
			n = write(fd, p, pc.len);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			pc.off += (size_t)n;
			pc.len -= (size_t)n;
		}
	}
	return 0;
}

static int
checksum_pieces(struct pieces *ps, const struct gitindex *ix)
{
	EVP_MD_CTX	*ctx;
	unsigned char	 md[GITINDEX_OIDSZ];
	unsigned	 mdlen;
	size_t		 i, mark;
	int		 ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1;
	for (i = 0; ok && i < ps->n; i++)
		ok = EVP_DigestUpdate(ctx, piece_ptr(ps, ix, &ps->v[i]),
		    ps->v[i].len) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
	    mdlen == GITINDEX_OIDSZ;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	mark = ps->arena.len;
	obuf_add(&ps->arena, md, sizeof(md));
	piece_arena(ps, mark);
	return 0;
}

int
gitindex_write(struct gitindex *ix, const struct gitindex_update *u,
    size_t nu, char **errmsg)
{
	struct pieces	 ps = { NULL, 0, 0, { NULL, 0, 0 } };
	struct raw	 e;
	char		*lock;
	size_t		 i = 0, j, count = 0, mark, hdr, len, next;
	int		 fd = -1, rc = -1;

	xasprintf(&lock, "%s.lock", ix->path);
	hdr = ps.arena.len;
	obuf_add(&ps.arena, ix->buf, HEADER_SIZE);
	piece_arena(&ps, hdr);
	for (j = 0; j < nu; j++) {
		len = strlen(u[j].path);
		next = lower_bound(ix, i, u[j].path, len);
		emit_old_range(&ps, ix, i, next);
		count += next - i;
		i = next;
		if (i < ix->n) {
			entry_at(ix, i, &e);
			if (name_cmp(e.name, e.namelen, u[j].path, len) == 0)
				i++;	/* the stage-0 entry being replaced */
		}
		if (!u[j].remove) {
			mark = ps.arena.len;
			emit_new(&ps.arena, &u[j]);
			piece_arena(&ps, mark);
			count++;
		}
	}
	emit_old_range(&ps, ix, i, ix->n);
	count += ix->n - i;
	put32(ps.arena.p + hdr + 8, (uint32_t)count);
	mark = ps.arena.len;
	copy_extensions(&ps.arena, ix, u, nu);
	piece_arena(&ps, mark);
	if (checksum_pieces(&ps, ix) == -1) {
		fail(errmsg, "cannot checksum the index");
		goto out;
	}
	if ((fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, ix->file_mode)) ==
	    -1) {
		fail(errmsg, "cannot lock \"%s\": %s", ix->path,
		    errno == EEXIST ? "index.lock exists" : strerror(errno));
		goto out;
	}
	if (write_pieces(fd, &ps, ix) == -1 || close(fd) == -1) {
		fd = -1;
		fail(errmsg, "cannot write \"%s\": %s", lock, strerror(errno));
		unlink(lock);
		goto out;
	}
	fd = -1;
	if (rename(lock, ix->path) == -1) {
		fail(errmsg, "cannot rename \"%s\": %s", lock, strerror(errno));
		unlink(lock);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(ps.v);
	free(ps.arena.p);
	free(lock);
	return rc;
}
