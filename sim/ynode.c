/* YAML (libyaml event API) into a tree of located nodes, and typed getters whose errors name
 * file:line:col. Aliases are expanded by copying the anchored node (bounded, so an alias bomb
 * is an error rather than an out-of-memory); map keys must be scalars and unique. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "sim/log.h"
#include "sim/ynode.h"

/* Upper bound on nodes in one document, aliases expanded (a scenario has a few thousand). */
#define MAX_NODES 500000
#define MAX_DEPTH 256

struct frame {
	struct fb_ynode *node;
	struct fb_ynode *key;       /* map: a key waiting for its value */
	size_t cap;
};

struct anchor {
	char *name;
	struct fb_ynode *node;
};

struct builder {
	const char *file;
	size_t nnodes;
	struct frame stack[MAX_DEPTH];
	int depth;
	struct fb_ynode *root;
	struct anchor *anchors;
	size_t nanchors, anchors_cap;
	bool failed;
};

static void node_free(struct fb_ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		if (n->keys)
			node_free(n->keys[i]);
		if (n->items)
			node_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->text);
	free(n);
}

void fb_ynode_free(struct fb_ynode *root)
{
	if (!root)
		return;
	char *file = (char *)root->file;
	node_free(root);
	free(file);
}

static int oom(void)
{
	return fb_error("out of memory while reading yaml");
}

static struct fb_ynode *node_new(struct builder *b, enum fb_ynode_kind kind, yaml_mark_t mark)
{
	if (++b->nnodes > MAX_NODES) {
		fb_error_at(b->file, (int)mark.line + 1, (int)mark.column + 1,
		            "document too large (more than %d nodes with aliases expanded)", MAX_NODES);
		return NULL;
	}
	struct fb_ynode *n = calloc(1, sizeof(*n));
	if (!n) {
		oom();
		return NULL;
	}
	n->kind = kind;
	n->line = (int)mark.line + 1;
	n->col = (int)mark.column + 1;
	n->file = b->file;
	return n;
}

static struct fb_ynode *node_copy(struct builder *b, const struct fb_ynode *src)
{
	yaml_mark_t mark = { 0, (size_t)src->line - 1, (size_t)src->col - 1 };
	struct fb_ynode *n = node_new(b, src->kind, mark);
	if (!n)
		return NULL;
	n->quoted = src->quoted;
	if (src->text && !(n->text = strdup(src->text)))
		goto fail;
	if (src->n) {
		if (src->keys && !(n->keys = calloc(src->n, sizeof(*n->keys))))
			goto fail;
		if (!(n->items = calloc(src->n, sizeof(*n->items))))
			goto fail;
	}
	for (size_t i = 0; i < src->n; i++) {
		n->n = i + 1;
		if (src->keys && !(n->keys[i] = node_copy(b, src->keys[i])))
			goto fail_quiet;
		if (!(n->items[i] = node_copy(b, src->items[i])))
			goto fail_quiet;
	}
	n->n = src->n;
	return n;
fail:
	oom();
fail_quiet:
	node_free(n);
	return NULL;
}

static int add_anchor(struct builder *b, const char *name, struct fb_ynode *n)
{
	if (b->nanchors == b->anchors_cap) {
		size_t cap = b->anchors_cap ? 2 * b->anchors_cap : 8;
		struct anchor *a = realloc(b->anchors, cap * sizeof(*a));
		if (!a)
			return oom();
		b->anchors = a;
		b->anchors_cap = cap;
	}
	/* A later anchor of the same name overrides (YAML 1.2 §3.2.2.2). */
	if (!(b->anchors[b->nanchors].name = strdup(name)))
		return oom();
	b->anchors[b->nanchors++].node = n;
	return 0;
}

static const struct fb_ynode *find_anchor(const struct builder *b, const char *name)
{
	for (size_t i = b->nanchors; i-- > 0;)
		if (strcmp(b->anchors[i].name, name) == 0)
			return b->anchors[i].node;
	return NULL;
}

static int grow(struct frame *f)
{
	struct fb_ynode *n = f->node;
	if (n->n < f->cap)
		return 0;
	size_t cap = f->cap ? 2 * f->cap : 4;
	struct fb_ynode **items = realloc(n->items, cap * sizeof(*items));
	if (!items)
		return oom();
	n->items = items;
	if (n->kind == FB_Y_MAP) {
		struct fb_ynode **keys = realloc(n->keys, cap * sizeof(*keys));
		if (!keys)
			return oom();
		n->keys = keys;
	}
	f->cap = cap;
	return 0;
}

/* Attaches a finished node to its parent (or makes it the root). Takes ownership. */
static int attach(struct builder *b, struct fb_ynode *n)
{
	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	struct frame *f = &b->stack[b->depth - 1];
	struct fb_ynode *p = f->node;
	if (p->kind == FB_Y_MAP && !f->key) {
		if (n->kind != FB_Y_SCALAR) {
			fb_error_at(n->file, n->line, n->col, "a map key must be a plain value, not a %s",
			            n->kind == FB_Y_MAP ? "map" : "list");
			node_free(n);
			return -1;
		}
		for (size_t i = 0; i < p->n; i++) {
			if (strcmp(p->keys[i]->text, n->text) == 0) {
				fb_error_at(n->file, n->line, n->col,
				            "duplicate key '%s' (first at line %d, column %d)",
				            n->text, p->keys[i]->line, p->keys[i]->col);
				node_free(n);
				return -1;
			}
		}
		f->key = n;
		return 0;
	}
	if (grow(f) < 0) {
		node_free(n);
		return -1;
	}
	if (p->kind == FB_Y_MAP) {
		p->keys[p->n] = f->key;
		f->key = NULL;
	}
	p->items[p->n++] = n;
	return 0;
}

static int push(struct builder *b, struct fb_ynode *n)
{
	if (b->depth == MAX_DEPTH) {
		fb_error_at(n->file, n->line, n->col, "nesting deeper than %d levels", MAX_DEPTH);
		node_free(n);
		return -1;
	}
	b->stack[b->depth].node = n;
	b->stack[b->depth].key = NULL;
	b->stack[b->depth].cap = 0;
	b->depth++;
	return 0;
}

static int syntax_error(const struct builder *b, const yaml_parser_t *p, const unsigned char *text,
                        size_t len)
{
	const char *problem = p->problem ? p->problem : "invalid yaml";
	size_t at = p->problem_mark.index;
	if (p->error == YAML_SCANNER_ERROR && at < len && text[at] == '\t')
		return fb_error_at(b->file, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
		                   "%s: a tab (yaml indents with spaces only)", problem);
	if (p->error == YAML_MEMORY_ERROR)
		return oom();
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark: count lines and columns up to it. */
		int line = 1, col = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++, col++)
			if (text[i] == '\n')
				line++, col = 0;
		return fb_error_at(b->file, line, col, "%s", problem);
	}
	if (p->context)
		return fb_error_at(b->file, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
		                   "%s (%s at line %d, column %d)", problem, p->context,
		                   (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
	return fb_error_at(b->file, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
	                   "%s", problem);
}

static bool is_str_tag(const yaml_char_t *tag)
{
	return tag && (strcmp((const char *)tag, YAML_STR_TAG) == 0 || strcmp((const char *)tag, "!") == 0);
}

/* One event into the tree. Returns 1 at the end of the stream, 0 to continue, -1 on error. */
static int on_event(struct builder *b, const yaml_event_t *ev)
{
	struct fb_ynode *n;
	const yaml_char_t *anchor = NULL;
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (b->root)
			return fb_error_at(b->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			                   "only one yaml document is allowed per file");
		return 0;
	case YAML_SCALAR_EVENT:
		if (!(n = node_new(b, FB_Y_SCALAR, ev->start_mark)))
			return -1;
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || is_str_tag(ev->data.scalar.tag);
		if (!(n->text = malloc(ev->data.scalar.length + 1))) {
			node_free(n);
			return oom();
		}
		memcpy(n->text, ev->data.scalar.value, ev->data.scalar.length);
		n->text[ev->data.scalar.length] = '\0';
		if (strlen(n->text) != ev->data.scalar.length) {
			fb_error_at(n->file, n->line, n->col, "value contains a NUL character");
			node_free(n);
			return -1;
		}
		if (ev->data.scalar.anchor && add_anchor(b, (const char *)ev->data.scalar.anchor, n) < 0) {
			node_free(n);
			return -1;
		}
		return attach(b, n);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		n = node_new(b, ev->type == YAML_SEQUENCE_START_EVENT ? FB_Y_SEQ : FB_Y_MAP, ev->start_mark);
		if (!n)
			return -1;
		anchor = ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
		                                               : ev->data.mapping_start.anchor;
		if (anchor && add_anchor(b, (const char *)anchor, n) < 0) {
			node_free(n);
			return -1;
		}
		return push(b, n);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		n = b->stack[--b->depth].node;
		return attach(b, n);
	}
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		const struct fb_ynode *target = find_anchor(b, name);
		for (int i = 0; target && i < b->depth; i++)
			if (b->stack[i].node == target)
				target = NULL;     /* a node cannot contain itself */
		if (!target)
			return fb_error_at(b->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			                   "unknown or recursive alias '*%s'", name);
		if (!(n = node_copy(b, target)))
			return -1;
		n->line = (int)ev->start_mark.line + 1;
		n->col = (int)ev->start_mark.column + 1;
		return attach(b, n);
	}
	default:
		return 0;
	}
}

static struct fb_ynode *parse(const unsigned char *text, size_t len, char *file)
{
	struct builder b = { .file = file };
	yaml_parser_t parser;
	yaml_event_t ev;
	int rc = 0;

	if (!yaml_parser_initialize(&parser)) {
		oom();
		free(file);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, text, len);
	while (rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&b, &parser, text, len);
			rc = -1;
			break;
		}
		rc = on_event(&b, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	while (b.depth > 0) {
		b.depth--;
		node_free(b.stack[b.depth].key);
		node_free(b.stack[b.depth].node);
	}
	for (size_t i = 0; i < b.nanchors; i++)
		free(b.anchors[i].name);
	free(b.anchors);
	if (rc < 0) {
		node_free(b.root);
		free(file);
		return NULL;
	}
	if (!b.root || (b.root->kind == FB_Y_SCALAR && !b.root->quoted &&
	                (!b.root->text[0] || strcmp(b.root->text, "~") == 0 ||
	                 strcmp(b.root->text, "null") == 0))) {
		fb_error_at(file, 0, 0, "empty document (nothing but blanks and comments)");
		node_free(b.root);
		free(file);
		return NULL;
	}
	return b.root;
}

struct fb_ynode *fb_ynode_load_string(const char *text, const char *name)
{
	char *file = strdup(name ? name : "<string>");
	if (!file) {
		oom();
		return NULL;
	}
	return parse((const unsigned char *)text, strlen(text), file);
}

struct fb_ynode *fb_ynode_load_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (!fp) {
		fb_error("cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 16384;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(fp);
				oom();
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		int err = errno;
		free(buf);
		fclose(fp);
		fb_error("cannot read '%s': %s", path, strerror(err));
		return NULL;
	}
	fclose(fp);
	char *file = strdup(path);
	struct fb_ynode *root = file ? parse((const unsigned char *)buf, len, file) : NULL;
	if (!file)
		oom();
	free(buf);
	return root;
}

struct fb_ynode *fb_ynode_get(const struct fb_ynode *map, const char *key)
{
	if (!map || map->kind != FB_Y_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->text, key) == 0)
			return map->items[i];
	return NULL;
}

int fb_ynode_error(const struct fb_ynode *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fb_error_at(n->file, n->line, n->col, "%s", msg);
}

static const char *kind_name(enum fb_ynode_kind k)
{
	return k == FB_Y_MAP ? "map" : k == FB_Y_SEQ ? "list" : "single value";
}

int fb_ynode_expect(const struct fb_ynode *n, enum fb_ynode_kind kind, const char *what)
{
	if (n->kind == kind)
		return 0;
	if (n->kind == FB_Y_SCALAR)
		return fb_ynode_error(n, "%s must be a %s, not '%s'", what, kind_name(kind), n->text);
	return fb_ynode_error(n, "%s must be a %s, not a %s", what, kind_name(kind), kind_name(n->kind));
}

int fb_ynode_string(const struct fb_ynode *n, const char *what, const char **out)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "%s must be a single value, not a %s", what, kind_name(n->kind));
	if (!n->quoted && (!n->text[0] || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0))
		return fb_ynode_error(n, "%s is empty", what);
	*out = n->text;
	return 0;
}

/* Decimal numbers only: no hex, no inf/nan, no ".inf", no trailing junk. */
static bool is_decimal(const char *s)
{
	const char *p = s;
	bool digits = false;
	if (*p == '+' || *p == '-')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, digits = true;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits = true;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

static int scalar_for_value(const struct fb_ynode *n, const char *what, const char *expected)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "%s must be %s, not a %s", what, expected, kind_name(n->kind));
	if (n->quoted)
		return fb_ynode_error(n, "%s must be %s, not the quoted string '%s'", what, expected, n->text);
	return 0;
}

int fb_ynode_number(const struct fb_ynode *n, const char *what, double *out)
{
	if (scalar_for_value(n, what, "a number") < 0)
		return -1;
	if (!is_decimal(n->text))
		return fb_ynode_error(n, "%s must be a number, not '%s'", what, n->text);
	double v = strtod(n->text, NULL);
	if (!isfinite(v))
		return fb_ynode_error(n, "%s is out of range: '%s'", what, n->text);
	*out = v;
	return 0;
}

int fb_ynode_int(const struct fb_ynode *n, const char *what, int64_t min, int64_t max, int64_t *out)
{
	if (scalar_for_value(n, what, "a whole number") < 0)
		return -1;
	const char *p = n->text + (n->text[0] == '+' || n->text[0] == '-');
	if (!*p || strspn(p, "0123456789") != strlen(p))
		return fb_ynode_error(n, "%s must be a whole number, not '%s'", what, n->text);
	errno = 0;
	long long v = strtoll(n->text, NULL, 10);
	bool range = errno == ERANGE;
	if (range || v < min || v > max) {
		if (max == INT64_MAX)
			return fb_ynode_error(n, "%s must be at least %lld, not %s", what, (long long)min, n->text);
		if (min == INT64_MIN)
			return fb_ynode_error(n, "%s must be at most %lld, not %s", what, (long long)max, n->text);
		return fb_ynode_error(n, "%s must be between %lld and %lld, not %s", what,
		                      (long long)min, (long long)max, n->text);
	}
	*out = v;
	return 0;
}

int fb_ynode_bool(const struct fb_ynode *n, const char *what, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };
	if (scalar_for_value(n, what, "true or false") < 0)
		return -1;
	for (int i = 0; yes[i]; i++) {
		if (strcasecmp(n->text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(n->text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return fb_ynode_error(n, "%s must be true or false, not '%s'", what, n->text);
}

int fb_ynode_duration(const struct fb_ynode *n, const char *what, fb_time_us *out)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "%s must be a duration, not a %s", what, kind_name(n->kind));
	if (fb_parse_duration(n->text, out) < 0)
		return fb_ynode_error(n, "%s must be a duration such as '30s', '15m' or '6h', not '%s'",
		                      what, n->text);
	return 0;
}

int fb_ynode_enum(const struct fb_ynode *n, const char *what, const char *const *choices, int *out)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "%s must be a single value, not a %s", what, kind_name(n->kind));
	for (int i = 0; choices[i]; i++) {
		if (strcmp(n->text, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	const char *hint = fb_suggest(n->text, choices);
	if (hint)
		return fb_ynode_error(n, "unknown %s '%s' (did you mean '%s'?)", what, n->text, hint);
	char list[512];
	size_t len = 0;
	list[0] = '\0';
	for (int i = 0; choices[i] && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'", i ? ", " : "", choices[i]);
	return fb_ynode_error(n, "unknown %s '%s' (expected one of %s)", what, n->text, list);
}

int fb_ynode_length_m(const struct fb_ynode *n, const char *what, double *out)
{
	if (scalar_for_value(n, what, "a length") < 0)
		return -1;
	const char *t = n->text;
	size_t len = strlen(t), num = len;
	double scale = 1.0;
	if (len > 2 && strcmp(t + len - 2, "km") == 0)
		num = len - 2, scale = 1000.0;
	else if (len > 1 && t[len - 1] == 'm')
		num = len - 1;
	char buf[64];
	if (num == 0 || num >= sizeof(buf))
		goto bad;
	memcpy(buf, t, num);
	buf[num] = '\0';
	if (!is_decimal(buf) || buf[0] == '-')
		goto bad;
	double v = strtod(buf, NULL) * scale;
	if (!isfinite(v))
		goto bad;
	*out = v;
	return 0;
bad:
	return fb_ynode_error(n, "%s must be a length such as '500m' or '2km', not '%s'", what, t);
}

int fb_ynode_check_keys(const struct fb_ynode *map, const char *context, const char *const *allowed)
{
	int rc = 0;
	if (fb_ynode_expect(map, FB_Y_MAP, context) < 0)
		return -1;
	for (size_t i = 0; i < map->n; i++) {
		const struct fb_ynode *k = map->keys[i];
		bool ok = false;
		for (size_t j = 0; allowed[j] && !ok; j++)
			ok = strcmp(k->text, allowed[j]) == 0;
		if (ok)
			continue;
		const char *hint = fb_suggest(k->text, allowed);
		if (hint) {
			fb_ynode_error(k, "unknown key '%s' in %s (did you mean '%s'?)", k->text, context, hint);
		} else {
			char list[512];
			size_t len = 0;
			list[0] = '\0';
			for (size_t j = 0; allowed[j] && len < sizeof(list); j++)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", j ? ", " : "", allowed[j]);
			fb_ynode_error(k, "unknown key '%s' in %s (known keys: %s)", k->text, context, list);
		}
		rc = -1;
	}
	return rc;
}
