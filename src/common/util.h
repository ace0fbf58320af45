/*
 * Allocation that cannot fail, and small helpers shared by both programs.
 */
#ifndef KTX_UTIL_H
#define KTX_UTIL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* A growable list of owned strings. */
struct strv {
	char	**v;
	size_t	  n;
	size_t	  cap;
};
void	 strv_push(struct strv *, const char *);	/* copies */
void	 strv_push_owned(struct strv *, char *);	/* takes ownership */
void	 strv_release(struct strv *);
/* Sort bytewise and drop duplicates. */
void	 strv_sort_unique(struct strv *);
/* 1 when s is one of sv's strings (a linear scan), else 0. */
int	 strv_has(const struct strv *, const char *);

/*
 * The length of the UTF-8 character at p (at most avail bytes) and its code
 * point in *cp; 0 when the bytes there are not valid UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included).
 */
size_t	 utf8_char(const unsigned char *p, size_t avail, uint32_t *cp);

/* Milliseconds of CLOCK_MONOTONIC and of the wall clock. */
int64_t	 now_monotonic_ms(void);
int64_t	 now_wall_ms(void);

/* Wall-clock milliseconds as "2024-05-31T12:00:00.000Z" into buf. */
#define ISO_TIME_MAX	32
const char *iso_time_ms(int64_t wall_ms, char buf[ISO_TIME_MAX]);

/* A growable NUL-terminated byte string. */
struct sbuf {
	char	*s;
	size_t	 len;
	size_t	 cap;
};
void	 sbuf_add(struct sbuf *, const char *, size_t);
void	 sbuf_adds(struct sbuf *, const char *);
void	 sbuf_addc(struct sbuf *, char);
void	 sbuf_addf(struct sbuf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* The string, handed over (never NULL).  Caller frees. */
char	*sbuf_take(struct sbuf *);
void	 sbuf_release(struct sbuf *);

/*
 * Create path and its missing parents with mode.  Returns 0 (also when it
 * exists as a directory), -1 with errno.
 */
int	 mkpath(const char *path, mode_t mode);

/*
 * rm -rf path, not following symbolic links.  Returns 0 (also when it
 * does not exist), -1 with errno.
 */
int	 rmtree(const char *path);

/*
 * A testing aid (ktx-worker(8) ENVIRONMENT).  When KTX_FAILPOINT is point
 * and KTX_FAILPOINT_FILE names a file that does not exist yet, create it
 * holding "point pid" and wait there for a signal with a handler (SIGTERM,
 * SIGCONT in the worker), so that a test can kill or signal the process
 * exactly at that point.  The first process to get there stops, the others
 * pass; without both variables this does nothing.
 */
void	 failpoint(const char *point);

#endif
