/*
 * Reconciliation: what the pipeline does to a session worktree after the
 * refresh from main and before the final window (DESIGN section 4, step 5).
 *
 * 1. Link requests.  A built-in adapter that wants a link whose target may
 *    or may not exist writes a request into a page body; reconciliation
 *    resolves it against the refreshed tree:
 *
 *      [[?page:<key or title>]]   [[?page:<key or title>|<label>]]
 *        A page of wiki/global is looked up by the text as a key, then by
 *        the text's slug: lower case, every run of characters other than
 *        a-z and 0-9 turned into one "-", "-" trimmed from both ends
 *        ("Churned Customer" -> churned-customer).  ktx pages have no
 *        title field; the slug is how adapters name pages from titles.
 *        Found: [[<key>|<label>]] ([[<key>]] when the label is the key);
 *        the label defaults to the text.  Not found: the label, as plain
 *        text.
 *
 *      [[?table:<conn>/<table ref>]]   [[?table:<table ref>]]
 *        The table is looked up as ktx's tableExists does (in conn, or in
 *        every visible connection).  Found: `<conn>/table:<ref>` (inline
 *        code the gates check the same way) and the source it resolves to
 *        is added to the page's sl_refs.  Not found: the table ref, as
 *        plain text.
 *
 *    Whitespace around the text and label is trimmed.  A request of any
 *    other kind is left as it is and reported; the gates ignore it (it is
 *    not a page key).  Explicit refs, [[key]] links and sl_refs an adapter
 *    wrote are never touched: the gates judge them.
 *
 * 2. sl_refs pruning, as ktx's repairWikiSlRefs: on every page of
 *    wiki/global and wiki/user/<id>/, sl_refs keeps the entries that name
 *    "<source>", "<source>.<measure>" or "<source>.<segment>" of a visible
 *    connection (no "<conn>/" prefix, no columns), each once; a page is
 *    rewritten only when an entry is removed.
 *
 * A page that changes is written back as ktx serializes it.  Pages that do
 * not parse are skipped, as ktx skips them, and so are pages that are not
 * regular files or have a symbolic link on their path: the gates refuse
 * those, and a rewrite must not turn a link into a copy of its target.
 */
#ifndef KTX_RECONCILE_H
#define KTX_RECONCILE_H

#include <stddef.h>

#include "util.h"

struct sl;

/* One page reconciliation rewrote. */
struct reconcile_page {
	char		*path;		/* "wiki/global/<key>.md" */
	struct strv	 removed_sl_refs;	/* pruned, in page order */
	struct strv	 added_sl_refs;		/* from table requests */
	/*
	 * Each request and what became of it, in body order:
	 *   "[[?page:Churned Customer]] -> [[churned-customer|Churned Customer]]"
	 *   "[[?table:wh/billing.invoices]] -> `wh/table:billing.invoices`"
	 *   "[[?page:Nowhere]] -> plain text"
	 */
	struct strv	 links;
};

struct reconcile_result {
	struct reconcile_page	*pages;		/* sorted by path */
	size_t			 npages;
	struct strv		 warnings;	/* skipped pages, unknown requests */
};

/*
 * Reconcile the wiki of the tree at worktree against sl (loaded from the
 * same tree; NULL: loaded from worktree when a page first needs it, so a
 * tree without pages costs no load).  connections: visible connection
 * ids, NULL for all of sl's.
 * Returns 0, or -1 with *errmsg when a page cannot be listed or written
 * (pages already rewritten stay rewritten and are in res).  Caller
 * releases res (also after a failure) and frees *errmsg.
 */
int	 reconcile_run(const char *worktree, const struct sl *sl,
	    const struct strv *connections, struct reconcile_result *res,
	    char **errmsg);
void	 reconcile_result_release(struct reconcile_result *res);

#endif
