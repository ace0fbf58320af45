#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static const char	*log_progname = "ktx";
static enum log_level	 log_level = LOG_LEVEL_INFO;
static int		 log_fatal_status = 1;
static void		(*log_hook)(void *);
static void		*log_hook_arg;

void
log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_level = level;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

void
log_set_hook(void (*hook)(void *), void *arg)
{
	log_hook = hook;
	log_hook_arg = arg;
}

void
log_set_fatal_status(int status)
{
	log_fatal_status = status;
}

void
log_vputs(FILE *f, const char *fmt, va_list ap)
{
	const unsigned char	*p;
	char			*msg;
	uint32_t		 cp;
	size_t			 len, n, k;

	if (vasprintf(&msg, fmt, ap) == -1) {
		fputs("(out of memory)", f);
		return;
	}
	p = (const unsigned char *)msg;
	len = strlen(msg);
	for (; len > 0; p += n, len -= n) {
		n = utf8_char(p, len, &cp);
		if (n > 0 && (cp == '\n' || cp == '\t' ||
		    (cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp > 0x9f)))) {
			fwrite(p, 1, n, f);
			continue;
		}
		if (n == 0)
			n = 1;
		for (k = 0; k < n; k++)
			fprintf(f, "\\x%02x", p[k]);
	}
	free(msg);
}

void
log_fprintf(FILE *f, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vputs(f, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 0)))
vlog(const char *prefix, int with_errno, const char *fmt, va_list ap)
{
	int	saved = errno;

	if (log_hook != NULL)
		log_hook(log_hook_arg);
	fprintf(stderr, "%s: %s", log_progname, prefix);
	log_vputs(stderr, fmt, ap);
	if (with_errno)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	fflush(stderr);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog("", 1, fmt, ap);
	va_end(ap);
	exit(log_fatal_status);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog("", 0, fmt, ap);
	va_end(ap);
	exit(log_fatal_status);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog("warning: ", 1, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog("warning: ", 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	if (log_level < LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	vlog("", 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (log_level < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	vlog("debug: ", 0, fmt, ap);
	va_end(ap);
}
