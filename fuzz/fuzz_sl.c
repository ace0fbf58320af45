/*
 * libFuzzer target: the semantic-layer loader and composition.  The input
 * is a set of files, each introduced by a line "#sl <path>" (a YAML
 * comment), path relative to semantic-layer/: "wh/_schema/main.yaml" is a
 * manifest shard, "wh/orders.yaml" a standalone or overlay file.  Bytes
 * before the first such line are the file "wh/_schema/main.yaml".  The
 * loaded layer is then queried as the gates query it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sl.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_FILES	16
#define HEADER		"#sl "

static void
query(const struct sl *sl)
{
	const struct sl_source	*s;
	struct strv		 touched = { 0 }, errors = { 0 };
	char			*ref;
	size_t			 i, k, c;

	for (i = 0; i < sl->nsources; i++) {
		s = &sl->sources[i];
		if (sl_source_find(sl, s->conn, s->name) == NULL ||
		    sl_source_find_nocase(sl, s->conn, s->name) == NULL ||
		    !sl_table_exists(sl, s->conn, s->name))
			abort();
		if (s->table != NULL)
			(void)sl_table_find(sl, NULL, s->table);
		/* A ref splits on the first "/" and then the first ".". */
		xasprintf(&ref, "%s/%s", s->conn, s->name);
		if (sl_ref_check(sl, NULL, ref) != SL_REF_OK &&
		    strpbrk(s->name, "/.") == NULL)
			abort();
		free(ref);
		for (k = 0; k < s->ncolumns; k++) {
			if (!(sl_entity_kind(sl, s, s->columns[k].name) &
			    SL_ENTITY_COLUMN))
				abort();
			xasprintf(&ref, "%s.%s", s->name, s->columns[k].name);
			(void)sl_ref_check(sl, NULL, ref);
			(void)sl_ref_keep(sl, &sl->connections, ref);
			free(ref);
		}
		for (k = 0; k < s->nmeasures; k++)
			(void)sl_entity_kind(sl, s, s->measures[k].name);
		for (k = 0; k < s->njoins; k++)
			(void)sl_source_find(sl, s->conn, s->joins[k].to);
	}
	for (c = 0; c < sl->connections.n; c++) {
		if (!sl_has_connection(sl, sl->connections.v[c]))
			abort();
		for (i = 0; i < sl->nsources; i++)
			if (strcmp(sl->sources[i].conn,
			    sl->connections.v[c]) == 0)
				strv_push(&touched, sl->sources[i].name);
		strv_push(&touched, "missing");
		sl_validate(sl, sl->connections.v[c], &touched, &errors);
		strv_release(&touched);
		strv_release(&errors);
	}
	for (i = 0; i < sl->nfiles; i++)
		if (sl_file_find(sl, sl->files[i].path) != &sl->files[i])
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_text	 texts[MAX_FILES];
	struct strv	 paths = { 0 };
	struct sl	 sl;
	const char	*p = (const char *)data, *end = p + size, *nl, *next;
	char		*err = NULL, *path;
	size_t		 n = 0;

	path = xstrdup(SL_DIR "/wh/_schema/main.yaml");
	for (;;) {
		/* The file runs to the next header line or the end. */
		for (next = p; next < end; next = nl + 1) {
			if ((size_t)(end - next) > strlen(HEADER) &&
			    memcmp(next, HEADER, strlen(HEADER)) == 0)
				break;
			if ((nl = memchr(next, '\n', end - next)) == NULL) {
				next = end;
				break;
			}
		}
		if (n == MAX_FILES) {
			free(path);
			break;
		}
		if (next == (const char *)data && next < end)
			free(path);	/* the input starts with a header */
		else {
			strv_push_owned(&paths, path);
			texts[n].path = path;
			texts[n].buf = p;
			texts[n].len = next - p;
			n++;
		}
		if (next == end)
			break;
		next += strlen(HEADER);
		if ((nl = memchr(next, '\n', end - next)) == NULL)
			nl = end;
		xasprintf(&path, "%s/%.*s", SL_DIR, (int)(nl - next), next);
		p = nl < end ? nl + 1 : end;
	}
	if (sl_load_texts(&sl, texts, n, &err) == 0)
		query(&sl);
	else if (err == NULL)
		abort();
	free(err);
	sl_release(&sl);
	strv_release(&paths);
	return 0;
}
