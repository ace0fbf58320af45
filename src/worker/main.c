#include "config.h"

#include <stdio.h>

#include "log.h"

int
main(void)
{
	log_init("ktx-worker", LOG_LEVEL_INFO);
	fprintf(stderr, "ktx-worker: run by ktx-supervisor, not by hand\n");
	return 2;
}
