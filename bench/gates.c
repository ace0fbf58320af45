/*
 * The final gates on a large project, timed: PAGES wiki pages (each with
 * refs, [[links]], sl_refs and body references) and SOURCES semantic-layer
 * sources (manifest shards of 100 tables with a join each, and an overlay
 * with a measure and a segment for every tenth table), when one page
 * changed and when one overlay changed.  The same on a project a tenth of
 * the size shows whether the cost follows the change or the project.
 *
 * usage: gates [-k] [-c page|sl] [-r runs] [-w workdir] [PAGES SOURCES]
 *		(default 10000 2000; -k keeps the project; -c times that
 *		case alone on the large project, for a profiler)
 *
 * Prints one line: the medians and the verdict against the goal (each at
 * most 300 ms, and a page change on the large project at most 2x its cost
 * on the small one).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gates.h"
#include "log.h"
#include "util.h"

#define TABLES_PER_SHARD	100
#define OVERLAY_EVERY		10

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
mkdirs(const char *path)
{
	char	*buf = xstrdup(path), *p;

	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			fatal("mkdir %s", buf);
		*p = '/';
	}
	free(buf);
}

static FILE *
create(const char *root, const char *rel)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", root, rel);
	mkdirs(path);
	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	free(path);
	return f;
}

static void
make_project(const char *root, int pages, int sources)
{
	FILE	*f = NULL;
	char	 rel[128];
	int	 i, t;

	for (t = 0; t < sources; t++) {
		if (t % TABLES_PER_SHARD == 0) {
			if (f != NULL)
				fclose(f);
			snprintf(rel, sizeof(rel), "semantic-layer/wh/_schema/"
			    "shard%03d.yaml", t / TABLES_PER_SHARD);
			f = create(root, rel);
			fputs("tables:\n", f);
		}
		fprintf(f, "  t%05d:\n    table: main.t%05d\n"
		    "    descriptions: { db: Table %d }\n    columns:\n"
		    "      - { name: id, type: number, pk: true }\n"
		    "      - { name: parent_id, type: number }\n"
		    "      - { name: amount, type: number }\n"
		    "      - { name: created_at, type: time }\n"
		    "      - { name: label, type: string }\n", t, t, t);
		if (t > 0)
			fprintf(f, "    joins:\n      - { to: t%05d, on: "
			    "t%05d.parent_id = t%05d.id, relationship: "
			    "many_to_one, source: formal }\n", t - 1, t, t - 1);
	}
	if (f != NULL)
		fclose(f);
	for (t = 0; t < sources; t += OVERLAY_EVERY) {
		snprintf(rel, sizeof(rel), "semantic-layer/wh/t%05d.yaml", t);
		f = create(root, rel);
		fprintf(f, "name: t%05d\nmeasures:\n  - { name: total, expr: "
		    "sum(amount) }\nsegments:\n  - { name: large, expr: amount "
		    "> 1000 }\n", t);
		fclose(f);
	}
	for (i = 0; i < pages; i++) {
		snprintf(rel, sizeof(rel), "wiki/global/p%05d.md", i);
		f = create(root, rel);
		t = (i % (sources / OVERLAY_EVERY)) * OVERLAY_EVERY;
		fprintf(f, "---\nsummary: Page %d about table t%05d\n"
		    "usage_mode: auto\ntags:\n  - bench\nrefs:\n  - p%05d\n"
		    "  - p%05d\nsl_refs:\n  - t%05d\n  - t%05d.total\n"
		    "  - t%05d.large\n  - t%05d.amount\n---\n\n"
		    "# Page %d\n\nSee [[p%05d]] and [[p%05d|the next one]]. The "
		    "total is `t%05d.total`, from `table:main.t%05d` and "
		    "`source:t%05d`.\n\nSome prose to read past: the amount is "
		    "in cents, one row per event, refreshed nightly.\n",
		    i, t, (i + 1) % pages, (i + 7) % pages, t, t, t, t, i,
		    (i + 1) % pages, (i + 3) % pages, t, t, t);
		fclose(f);
	}
}

static double
time_gates(const char *root, const struct gate_path *changed,
    struct gate_report *rep)
{
	struct gate_input	 in;
	char			*err = NULL;
	double			 t0, t;

	memset(&in, 0, sizeof(in));
	in.worktree = root;
	in.changed = changed;
	in.nchanged = 1;
	t0 = now_ms();
	if (gates_run(&in, rep, &err) != 0)
		fatalx("the gates failed on the benchmark project: %s", err);
	t = now_ms() - t0;
	return t;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of runs of the gates for one change. */
static double
median_gates(const char *root, const struct gate_path *changed, int runs,
    struct gate_report *rep)
{
	double	*v = xcalloc((size_t)runs, sizeof(*v)), m;
	int	 i;

	for (i = 0; i < runs; i++)
		v[i] = time_gates(root, changed, rep);
	qsort(v, (size_t)runs, sizeof(*v), cmp_double);
	m = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
	free(v);
	return m;
}

struct figures {
	double			page_ms, sl_ms;
	struct gate_report	page, sl;
};

static const struct gate_path page = { GATE_MODIFIED,
    "wiki/global/p00042.md" };
static const struct gate_path sl = { GATE_MODIFIED,
    "semantic-layer/wh/t00040.yaml" };

static void
measure(const char *workdir, int pages, int sources, int runs, int keep,
    const char *only, struct figures *fg)
{
	char	*root, *cmd;

	xasprintf(&root, "%s/gates-%d-%d", workdir, pages, sources);
	xasprintf(&cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fatalx("%s: failed", cmd);
	make_project(root, pages, sources);
	if (only == NULL || strcmp(only, "page") == 0)
		fg->page_ms = median_gates(root, &page, runs, &fg->page);
	if (only == NULL || strcmp(only, "sl") == 0)
		fg->sl_ms = median_gates(root, &sl, runs, &fg->sl);
	if (!keep && system(cmd) != 0)
		fatalx("%s: failed", cmd);
	free(cmd);
	free(root);
}

int
main(int argc, char **argv)
{
	struct figures	 big, small;
	const char	*workdir = "/tmp", *only = NULL;
	int		 ch, runs = 11, keep = 0, pages = 10000, sources = 2000;
	double		 growth;

	log_init("gates", LOG_LEVEL_WARN);
	while ((ch = getopt(argc, argv, "c:kr:w:")) != -1) {
		switch (ch) {
		case 'c':
			only = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'w':
			workdir = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind == 2) {
		pages = atoi(argv[optind]);
		sources = atoi(argv[optind + 1]);
	} else if (argc != optind)
		goto usage;
	if (runs < 1 || pages < 100 || sources < 100 || (only != NULL &&
	    strcmp(only, "page") != 0 && strcmp(only, "sl") != 0))
		goto usage;
	memset(&big, 0, sizeof(big));
	measure(workdir, pages, sources, runs, keep, only, &big);
	if (only != NULL) {
		printf("gates, %d pages, %d sources, one %s changed: %.1f ms\n",
		    pages, sources, strcmp(only, "sl") == 0 ? "overlay" :
		    "page", big.page_ms + big.sl_ms);
		return 0;
	}
	measure(workdir, pages / 10, sources / 10, runs, keep, NULL, &small);
	growth = big.page_ms / small.page_ms;
	printf("gates: %d pages, %d sources: one page changed %.1f ms "
	    "(%zu checked), one overlay changed %.1f ms (%zu checked, all "
	    "pages by ktx's rule); a tenth the size: %.1f / %.1f ms, page "
	    "change %.2fx | goal <= 300 ms, page change <= 2x: %s\n", pages,
	    sources, big.page_ms, big.page.pages_checked, big.sl_ms,
	    big.sl.pages_checked, small.page_ms, small.sl_ms, growth,
	    big.page_ms <= 300 && big.sl_ms <= 300 && growth <= 2 ? "met" :
	    "missed");
	return 0;
usage:
	fprintf(stderr, "usage: gates [-k] [-c page|sl] [-r runs] "
	    "[-w workdir] [PAGES SOURCES]\n");
	return 2;
}
