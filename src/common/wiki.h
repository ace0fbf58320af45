/*
 * Wiki pages as ktx reads and writes them.
 *
 * A page is wiki/global/<key>.md (ingest writes only that scope; ktx also
 * has wiki/user/<id>/<key>.md).  Its text is split the way ktx's regular
 * expression ^---\n([\s\S]*?)\n---\n?([\s\S]*)$ splits it: the frontmatter
 * is everything from byte 4 to the first "\n---" at or after byte 4, the
 * body everything after that marker and one optional newline, trimmed as
 * JavaScript trims.  The frontmatter is YAML read as the "yaml" package
 * reads it (YAML 1.2 core schema); ktx writes a page back as
 *   "---\n" + YAML(indent 2, no line folding, trailing whitespace
 *   trimmed) + "\n---\n\n" + body + "\n"
 * and wiki_emit produces those bytes, so a page ktx wrote parses and emits
 * byte for byte.  (That trim takes trailing line breaks from the string
 * written last, as the next read sees it, in ktx as here.)
 * Known differences from ktx: anchors and aliases are
 * refused; a double-quoted multi-line string (one with control characters,
 * a multi-line key, or one ending in a line of blanks) keeps its line
 * breaks as "\n" escapes where the "yaml" package would fold a long one;
 * libyaml reads YAML 1.1 line breaks (NEL U+0085, LS, PS) inside
 * scalars as line breaks where YAML 1.2 keeps them as characters, and
 * refuses the raw DEL and C1 control characters the "yaml" package leaves
 * unescaped inside double quotes (such a page does not parse here;
 * wiki_emit escapes those and LS, PS, so what it writes reads back).  (A
 * second YAML document can only follow a CR line break, "\r---", since a
 * "\n---" line ends the frontmatter; it is refused, as the "yaml" package
 * refuses one.)
 */
#ifndef KTX_WIKI_H
#define KTX_WIKI_H

#include <stddef.h>

#include "util.h"

#define WIKI_DIR		"wiki"
#define WIKI_GLOBAL_DIR		"wiki/global"
#define WIKI_PAGE_MAX_BYTES	(8 * 1024 * 1024)
#define WIKI_MAX_DEPTH		64	/* nesting of YAML collections */

enum wiki_type {
	WIKI_NULL,
	WIKI_BOOL,
	WIKI_NUMBER,
	WIKI_STRING,
	WIKI_SEQ,
	WIKI_MAP
};

/* A frontmatter value and where it starts in the page file, 1-based. */
struct wiki_value {
	enum wiki_type		  type;
	int			  line;
	int			  column;
	/*
	 * Scalars: a string's text, or the text ktx writes for the value
	 * ("null", "true", "42", "0.5": numbers as JavaScript prints them).
	 * NUL-terminated; len counts a string's NUL bytes too.
	 */
	char			 *text;
	size_t			  len;
	struct wiki_value	**kids;		/* SEQ: items; MAP: key, value, ... */
	size_t			  nkids;
	size_t			  cap;
};

struct wiki_page {
	struct wiki_value	*fm;		/* a mapping, keys in file order */
	char			*body;		/* trimmed; NUL-terminated */
	size_t			 body_len;
};

/*
 * Parse a page's text.  name is how messages name the page (its path).
 * On failure return -1 with one message in *errmsg:
 *   "<name>: Invalid wiki page: missing YAML frontmatter" (ktx's words),
 *   "<name>:<line>:<col>: invalid YAML: ...", "<name>:<line>:<col>: the
 *   frontmatter must be a mapping", ...
 * Caller frees *errmsg and releases page (also after a failure).
 */
int	 wiki_parse(const char *name, const char *buf, size_t len,
	    struct wiki_page *page, char **errmsg);

/*
 * Read and parse the page at path (a regular file of at most
 * WIKI_PAGE_MAX_BYTES).  Messages name the page by name.  Returns 0, -1
 * with *errmsg, or 1 when path does not exist (nothing in *errmsg).
 */
int	 wiki_read(const char *path, const char *name, struct wiki_page *page,
	    char **errmsg);

/* The page as ktx serializes it.  Caller frees; *lenp gets its length. */
char	*wiki_emit(const struct wiki_page *page, size_t *lenp);

/* Emit the page into path atomically (a temporary file, then rename). */
int	 wiki_write(const char *path, const struct wiki_page *page,
	    char **errmsg);

void	 wiki_page_release(struct wiki_page *page);

/*
 * The value of a frontmatter field, or NULL.  wiki_set replaces the value
 * of field where it stands, or appends the field, and takes ownership of
 * value (ktx's {...frontmatter, field: value}).
 */
const struct wiki_value *wiki_get(const struct wiki_page *page,
	    const char *field);
void	 wiki_set(struct wiki_page *page, const char *field,
	    struct wiki_value *value);

/* A sequence of strings for wiki_set.  Caller owns the result. */
struct wiki_value *wiki_strlist_new(const struct strv *items);
void	 wiki_value_free(struct wiki_value *v);

/*
 * The entries of a list field, as text (ktx compares them as strings);
 * a scalar counts as a one-entry list, a missing field or null as none.
 * Maps and lists inside the list are skipped.  Appends to out.
 */
void	 wiki_field_list(const struct wiki_page *page, const char *field,
	    struct strv *out);

/* A page key, as ktx allows it in a file name: ^[a-zA-Z0-9][a-zA-Z0-9_-]*$ */
int	 wiki_key_valid(const char *key);
/* A key as ktx's ref checks take it: ^[a-z0-9][a-z0-9_-]*$ (lower case). */
int	 wiki_ref_key_valid(const char *key);

/*
 * The key of a repository path "wiki/global/<key>.md" with a valid key,
 * copied into a new string; NULL for any other path.  Caller frees.
 */
char	*wiki_global_key(const char *path);

/*
 * Body links: every [[target]] or [[target|label]] ktx's /\[\[([^\]\n]+)\]\]/g
 * finds in the whole body, code included.
 */
struct wiki_link {
	size_t	 off;		/* of the first '[' in the body */
	size_t	 len;		/* through the closing "]]" */
	char	*target;	/* text before the first '|', trimmed */
	char	*label;		/* text after it, or NULL */
};

struct wiki_links {
	struct wiki_link	*v;
	size_t			 n;
};

void	 wiki_body_links(const char *body, size_t len, struct wiki_links *out);
void	 wiki_links_release(struct wiki_links *links);

/*
 * The page keys a body links to and the gates check: link targets that
 * match wiki_ref_key_valid, sorted bytewise, each once.  Appends to out.
 */
void	 wiki_body_link_keys(const char *body, size_t len, struct strv *out);

/*
 * Inline-code references outside ``` fences, as ktx's gate reads them
 * from `...` spans: `source:<name>`, `table:<ref>`, either with a
 * "<conn>/" prefix, and `<src>.<entity>` (two identifiers
 * ^[A-Za-z_][A-Za-z0-9_]*$, optionally "<conn>/"-prefixed).
 */
enum wiki_ref_kind {
	WIKI_REF_SOURCE,
	WIKI_REF_TABLE,
	WIKI_REF_ENTITY
};

struct wiki_ref {
	enum wiki_ref_kind	 kind;
	char			*connection;	/* NULL: any visible connection */
	char			*name;		/* source name or table ref */
	char			*entity;	/* WIKI_REF_ENTITY only */
};

struct wiki_refs {
	struct wiki_ref	*v;
	size_t		 n;
};

void	 wiki_body_refs(const char *body, size_t len, struct wiki_refs *out);
void	 wiki_refs_release(struct wiki_refs *refs);

#endif
