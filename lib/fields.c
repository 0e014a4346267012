#include "fields.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "strconv.h"

struct field_term {
	char *field;
	char *value;
	bool negated;
};

struct field_selector {
	struct field_term *terms;
	size_t count;
};

/* One term of the text before it is split at its operator. */
struct piece {
	const char *start;
	size_t len;
};

void field_selector_free(struct field_selector *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->count; i++) {
		free(sel->terms[i].field);
		free(sel->terms[i].value);
	}
	free(sel->terms);
	free(sel);
}

static void field_selector_freep(struct field_selector **sel)
{
	field_selector_free(*sel);
}

static char *copy_bytes(const char *start, size_t len)
{
	char *copy = strndup(start, len);
	if (!copy)
		abort();
	return copy;
}

/* Splits at commas that are not escaped; empty pieces are kept here and skipped later. */
static struct piece *split_terms(const char *text, size_t *count)
{
	size_t commas = 0;
	for (const char *p = text; *p; p++)
		commas += *p == ',';
	struct piece *pieces = calloc(commas + 1, sizeof(*pieces));
	if (!pieces)
		abort();
	const char *start = text;
	bool escaped = false;
	*count = 0;
	for (const char *p = text;; p++) {
		if (escaped) {
			escaped = false;
			if (*p)
				continue;
		}
		if (*p == '\\') {
			escaped = true;
		} else if (*p == ',' || !*p) {
			pieces[(*count)++] = (struct piece){start, (size_t)(p - start)};
			start = p + 1;
			if (!*p)
				return pieces;
		}
	}
}

static int compare_pieces(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	int common = memcmp(x->start, y->start, x->len < y->len ? x->len : y->len);
	if (common != 0)
		return common;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Finds the first operator in the piece; at each position "!=" and "==" before "=". */
static bool split_at_operator(struct piece piece, struct piece *field, struct piece *value,
			      bool *negated)
{
	for (size_t i = 0; i < piece.len; i++) {
		const char *p = piece.start + i;
		size_t op_len = 0;
		if ((p[0] == '!' || p[0] == '=') && i + 1 < piece.len && p[1] == '=')
			op_len = 2;
		else if (p[0] == '=')
			op_len = 1;
		if (op_len) {
			*field = (struct piece){piece.start, i};
			*value = (struct piece){p + op_len, piece.len - i - op_len};
			*negated = p[0] == '!';
			return true;
		}
	}
	return false;
}

/* Kubernetes reads an escaped value rune by rune, so bytes that are not UTF-8 come out as
 * U+FFFD; a value without anything to unescape is kept as it is. */
static int unescape_value(struct piece value, char **out, struct ck_error *err)
{
	_cleanup_buf_ struct buf text = {0};
	if (!memchr(value.start, '\\', value.len) && !memchr(value.start, ',', value.len) &&
	    !memchr(value.start, '=', value.len)) {
		buf_append(&text, value.start, value.len);
		*out = buf_steal(&text);
		return 0;
	}
	bool escaped = false;
	for (size_t i = 0; i < value.len;) {
		uint32_t rune;
		size_t width = utf8_decode_rune(value.start + i, value.len - i, &rune);
		i += width;
		if (escaped) {
			if (rune != '\\' && rune != ',' && rune != '=') {
				_cleanup_buf_ struct buf sequence = {0};
				buf_putc(&sequence, '\\');
				utf8_append_rune(&sequence, rune);
				return ck_error_set(err, EINVAL,
						    "invalid field selector: invalid escape "
						    "sequence: %s",
						    sequence.data);
			}
			escaped = false;
			buf_putc(&text, (char)rune);
		} else if (rune == '\\') {
			escaped = true;
		} else if (rune == ',' || rune == '=') {
			/* Go prints the rune as a number here. */
			return ck_error_set(
			    err, EINVAL, "invalid field selector: unescaped character in value: %u",
			    (unsigned)rune);
		} else {
			utf8_append_rune(&text, rune);
		}
	}
	if (escaped)
		return ck_error_set(err, EINVAL,
				    "invalid field selector: invalid escape sequence: \\");
	*out = buf_steal(&text);
	return 0;
}

static int add_term(struct field_selector *sel, struct piece field, struct piece value,
		    bool negated, struct ck_error *err)
{
	char *unescaped = NULL;
	int ret = unescape_value(value, &unescaped, err);
	if (ret < 0)
		return ret;
	/* A term with neither field nor value ("=") stands for everything and is dropped. */
	if (field.len == 0 && !*unescaped) {
		free(unescaped);
		return 0;
	}
	sel->terms[sel->count++] = (struct field_term){
	    .field = copy_bytes(field.start, field.len),
	    .value = unescaped,
	    .negated = negated,
	};
	return 0;
}

int field_selector_parse(const char *text, struct field_selector **out, struct ck_error *err)
{
	size_t count;
	_cleanup_free_ struct piece *pieces = split_terms(text, &count);
	qsort(pieces, count, sizeof(*pieces), compare_pieces);

	_cleanup_(field_selector_freep) struct field_selector *sel = calloc(1, sizeof(*sel));
	if (!sel || !(sel->terms = calloc(count, sizeof(*sel->terms))))
		abort();
	for (size_t i = 0; i < count; i++) {
		if (pieces[i].len == 0)
			continue;
		struct piece field, value;
		bool negated;
		if (!split_at_operator(pieces[i], &field, &value, &negated))
			return ck_error_set(err, EINVAL,
					    "invalid selector: '%s'; can't understand '%.*s'", text,
					    (int)pieces[i].len, pieces[i].start);
		int ret = add_term(sel, field, value, negated, err);
		if (ret < 0)
			return ret;
	}
	*out = steal_ptr(&sel);
	return 0;
}

size_t field_selector_count(const struct field_selector *sel)
{
	return sel->count;
}

const char *field_selector_field(const struct field_selector *sel, size_t index)
{
	return index < sel->count ? sel->terms[index].field : NULL;
}

const char *field_selector_exact(const struct field_selector *sel, const char *field)
{
	for (size_t i = 0; i < sel->count; i++)
		if (!sel->terms[i].negated && strcmp(sel->terms[i].field, field) == 0)
			return sel->terms[i].value;
	return NULL;
}

static const char *json_lookup(const void *fields, const char *field, size_t *len)
{
	const json_t *actual = json_object_get(fields, field);
	*len = json_string_length(actual);
	return json_string_value(actual);
}

bool field_selector_matches_with(const struct field_selector *sel,
				 const char *(*lookup)(const void *ctx, const char *field,
						       size_t *len),
				 const void *ctx)
{
	for (size_t i = 0; i < sel->count; i++) {
		const struct field_term *term = &sel->terms[i];
		size_t len = 0;
		const char *actual = lookup(ctx, term->field, &len);
		if (!actual) {
			actual = "";
			len = 0;
		}
		bool equal = strlen(term->value) == len && memcmp(term->value, actual, len) == 0;
		if (equal == term->negated)
			return false;
	}
	return true;
}

bool field_selector_matches(const struct field_selector *sel, const json_t *fields)
{
	return field_selector_matches_with(sel, json_lookup, fields);
}
