/*
 * The one log API of both programs.  Messages go to stderr prefixed with the
 * program name; fatal/fatalx exit.  Library code in src/common never calls
 * fatal: it returns -1 and lets its caller decide.
 */
#ifndef KTX_LOG_H
#define KTX_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum log_level { LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void	log_init(const char *progname, enum log_level level);
void	log_set_level(enum log_level level);
enum log_level log_get_level(void);

void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * Write the formatted message to f with every byte a terminal could take
 * for a command escaped as \xHH: control characters but newline and tab,
 * DEL, C1 controls and bytes that are not UTF-8.  Names from the command
 * line, from files and from adapters reach messages as they are.
 */
void	log_vputs(FILE *f, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
/* fprintf with that escaping: for text that holds what others wrote. */
void	log_fprintf(FILE *f, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Call hook(arg) before each message is written (NULL: none): the live
 * view of ingest takes itself off the terminal first.
 */
void	log_set_hook(void (*hook)(void *), void *arg);

/* Exit status fatal/fatalx use; the supervisor sets 2 for usage/config errors. */
void	log_set_fatal_status(int status);

#endif
