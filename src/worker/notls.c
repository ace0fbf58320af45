/*
 * The worker never speaks TLS: libgit2 serves it local repositories only.
 * Yet libgit2 built on mbedTLS (Debian's) parses the whole system CA
 * bundle in git_libgit2_init, some 150,000 certificate lines: 54 M of the
 * 80 M instructions of a worker whose target runs a command adapter, paid
 * again by every target.  This definition is found before mbedTLS's (an
 * executable's symbols come first), so nothing is parsed and libgit2 has
 * an empty trust store: an HTTPS remote would fail its certificate check,
 * which is right for a worker that must not have one.  A libgit2 built on
 * OpenSSL never calls it.
 */
#include "config.h"

#include "worker.h"

int
mbedtls_x509_crt_parse_file(void *chain, const char *path)
{
	(void)chain;
	(void)path;
	return 0;
}
