#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "supervisor.h"

int
main(int argc, char **argv)
{
	log_init("ktx-supervisor", LOG_LEVEL_INFO);
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("ktx-supervisor %s\n", PACKAGE_VERSION);
		return EXIT_ALL_DONE;
	}
	fprintf(stderr, "usage: ktx-supervisor [-C dir] command [args]\n");
	return EXIT_USAGE;
}
