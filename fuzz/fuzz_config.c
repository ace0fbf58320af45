/*
 * libFuzzer target: the ktx.yaml loader.  The input is a ktx.yaml file's
 * bytes; a loaded configuration's connections must be sorted and carry a
 * driver.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ktxconfig.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ktx_config	 cfg;
	char			*err = NULL;
	size_t			 i;

	if (config_load_buf("ktx.yaml", (const char *)data, size, &cfg,
	    &err) == -1) {
		if (err == NULL || cfg.nconnections != 0)
			abort();
		free(err);
		return 0;
	}
	for (i = 0; i < cfg.nconnections; i++) {
		if (cfg.connections[i].driver == NULL ||
		    config_find(&cfg, cfg.connections[i].id) !=
		    &cfg.connections[i])
			abort();
		if (i > 0 && strcmp(cfg.connections[i - 1].id,
		    cfg.connections[i].id) >= 0)
			abort();
	}
	config_release(&cfg);
	return 0;
}
