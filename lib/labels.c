#include "labels.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "json_util.h"
#include "strconv.h"
#include "validation.h"

enum label_operator {
	LABEL_OP_EQUALS,
	LABEL_OP_DOUBLE_EQUALS,
	LABEL_OP_NOT_EQUALS,
	LABEL_OP_IN,
	LABEL_OP_NOT_IN,
	LABEL_OP_EXISTS,
	LABEL_OP_DOES_NOT_EXIST,
	LABEL_OP_GREATER_THAN,
	LABEL_OP_LESS_THAN,
};

struct label_requirement {
	char *key;
	enum label_operator op;
	char **values; /* sorted */
	size_t value_count;
	int64_t bound; /* the number compared against, for > and < */
	size_t order;  /* position as written: requirements with one key keep their order */
};

struct label_selector {
	bool selects_nothing;
	struct label_requirement *requirements;
	size_t count, capacity;
};

/* Text that may hold NUL bytes, as JSON strings can, or that points into a longer string. */
struct text {
	const char *data;
	size_t len;
};

static char *copy_text(struct text t)
{
	char *copy = malloc(t.len + 1);
	if (!copy)
		abort();
	memcpy(copy, t.data, t.len);
	copy[t.len] = '\0';
	return copy;
}

static void requirement_clear(struct label_requirement *req)
{
	free(req->key);
	for (size_t i = 0; i < req->value_count; i++)
		free(req->values[i]);
	free(req->values);
}

void label_selector_free(struct label_selector *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->count; i++)
		requirement_clear(&sel->requirements[i]);
	free(sel->requirements);
	free(sel);
}

static void label_selector_freep(struct label_selector **sel)
{
	label_selector_free(*sel);
}
#define _cleanup_selector_ _cleanup_(label_selector_freep)

static struct label_selector *selector_new(bool selects_nothing)
{
	struct label_selector *sel = calloc(1, sizeof(*sel));
	if (!sel)
		abort();
	sel->selects_nothing = selects_nothing;
	return sel;
}

/* Kubernetes' aggregate of field errors: one alone, several as "[a, b]", repeats dropped. */
struct problems {
	char **items;
	size_t count;
	size_t text_len;
};

/* Past this much text the message is cut anyway; stopping bounds the work on hostile input. */
#define PROBLEMS_TEXT_MAX (2 * sizeof(((struct ck_error *)0)->message))

static void problems_add(struct problems *p, struct buf *message)
{
	char *text = buf_steal(message);
	for (size_t i = 0; i < p->count; i++) {
		if (strcmp(p->items[i], text) == 0) {
			free(text);
			return;
		}
	}
	if (p->text_len > PROBLEMS_TEXT_MAX) {
		free(text);
		return;
	}
	char **grown = realloc(p->items, (p->count + 1) * sizeof(*grown));
	if (!grown)
		abort();
	p->items = grown;
	p->items[p->count++] = text;
	p->text_len += strlen(text);
}

/* "<field>: Invalid value: <value>: <detail>", the value given as JSON text. */
static void problems_add_invalid_json(struct problems *p, const char *field, const char *value,
				      const char *detail)
{
	_cleanup_buf_ struct buf message = {0};
	buf_printf(&message, "%s: Invalid value: %s: %s", field, value, detail);
	problems_add(p, &message);
}

/* The same with a string value, which Go shows with %q. */
static void problems_add_invalid(struct problems *p, const char *field, struct text value,
				 const char *detail)
{
	_cleanup_buf_ struct buf message = {0};
	buf_printf(&message, "%s: Invalid value: ", field);
	strconv_append_quoted(&message, value.data, value.len);
	buf_printf(&message, ": %s", detail);
	problems_add(p, &message);
}

static void problems_free(struct problems *p)
{
	for (size_t i = 0; i < p->count; i++)
		free(p->items[i]);
	free(p->items);
}
#define _cleanup_problems_ _cleanup_(problems_free)

static int problems_report(const struct problems *p, struct ck_error *err)
{
	if (p->count == 0)
		return 0;
	_cleanup_buf_ struct buf text = {0};
	if (p->count > 1)
		buf_putc(&text, '[');
	for (size_t i = 0; i < p->count; i++) {
		if (i > 0)
			buf_puts(&text, ", ");
		buf_puts(&text, p->items[i]);
	}
	if (p->count > 1)
		buf_putc(&text, ']');
	return ck_error_set(err, EINVAL, "%s", text.data);
}

typedef bool (*label_check)(const char *text, struct validation_messages *msgs);

/* Runs a check of C strings on text that may hold NUL bytes. Every label check refuses NUL,
 * and refuses a space in the same way, so a space stands in for it. Returns the joined detail
 * texts, or NULL when the text is valid. */
static char *check_label_text(label_check check, struct text t)
{
	_cleanup_free_ char *copy = copy_text(t);
	for (size_t i = 0; i < t.len; i++)
		if (copy[i] == '\0')
			copy[i] = ' ';
	struct validation_messages msgs;
	if (check(copy, &msgs))
		return NULL;
	struct buf joined = {0};
	validation_messages_join(&msgs, "; ", &joined);
	return buf_steal(&joined);
}

static char *values_as_json(const struct text *values, size_t count)
{
	if (count == 0)
		return strdup("null"); /* Go's nil slice */
	_cleanup_json_ json_t *array = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(array, json_stringn(values[i].data, values[i].len));
	return json_dump_compact(array);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks one requirement as Kubernetes' NewRequirement does, then adds it to `sel`. */
static int add_requirement(struct label_selector *sel, struct text key, enum label_operator op,
			   const struct text *values, size_t count, struct ck_error *err)
{
	_cleanup_problems_ struct problems problems = {0};
	_cleanup_free_ char *key_problem = check_label_text(validate_qualified_name, key);
	if (key_problem)
		problems_add_invalid(&problems, "key", key, key_problem);

	int64_t bound = 0;
	if ((op == LABEL_OP_IN || op == LABEL_OP_NOT_IN) && count == 0) {
		problems_add_invalid_json(&problems, "values", "null",
					  "for 'in', 'notin' operators, values set can't be empty");
	} else if ((op == LABEL_OP_EXISTS || op == LABEL_OP_DOES_NOT_EXIST) && count > 0) {
		_cleanup_free_ char *json = values_as_json(values, count);
		problems_add_invalid_json(&problems, "values", json,
					  "values set must be empty for exists and does not exist");
	} else if (op == LABEL_OP_GREATER_THAN || op == LABEL_OP_LESS_THAN) {
		_cleanup_free_ char *number = copy_text(values[0]);
		if (strconv_parse_int(number, INT64_MIN, INT64_MAX, &bound, NULL) < 0)
			problems_add_invalid(
			    &problems, "values[0]", values[0],
			    "for 'Gt', 'Lt' operators, the value must be an integer");
	}
	for (size_t i = 0; i < count; i++) {
		_cleanup_free_ char *value_problem =
		    check_label_text(validate_label_value, values[i]);
		if (!value_problem)
			continue;
		_cleanup_buf_ struct buf field = {0};
		buf_printf(&field, "values[%zu][%.*s]", i, (int)key.len, key.data);
		problems_add_invalid(&problems, field.data, values[i], value_problem);
	}
	if (problems.count > 0)
		return problems_report(&problems, err);

	if (sel->count == sel->capacity) {
		size_t capacity = sel->capacity ? sel->capacity * 2 : 4;
		struct label_requirement *grown =
		    realloc(sel->requirements, capacity * sizeof(*grown));
		if (!grown)
			abort();
		sel->requirements = grown;
		sel->capacity = capacity;
	}
	struct label_requirement *req = &sel->requirements[sel->count];
	*req = (struct label_requirement){
	    .key = copy_text(key),
	    .op = op,
	    .value_count = count,
	    .bound = bound,
	    .order = sel->count,
	};
	req->values = calloc(count ? count : 1, sizeof(*req->values));
	if (!req->values)
		abort();
	for (size_t i = 0; i < count; i++)
		req->values[i] = copy_text(values[i]);
	qsort(req->values, count, sizeof(*req->values), compare_strings);
	sel->count++;
	return 0;
}

static int compare_requirements(const void *a, const void *b)
{
	const struct label_requirement *x = a, *y = b;
	int by_key = strcmp(x->key, y->key);
	if (by_key != 0)
		return by_key;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void sort_requirements(struct label_selector *sel)
{
	if (sel->count > 1) /* qsort may not be given NULL, which an empty selector holds */
		qsort(sel->requirements, sel->count, sizeof(*sel->requirements),
		      compare_requirements);
}

/* The text syntax, read the way Kubernetes' lexer and parser read it, so that the same
 * strings are accepted and the same messages come back for the others. */
enum token_type {
	TOKEN_END,
	TOKEN_IDENTIFIER,
	TOKEN_IN,
	TOKEN_NOT_IN,
	TOKEN_EQUALS,
	TOKEN_DOUBLE_EQUALS,
	TOKEN_NOT_EQUALS,
	TOKEN_GREATER_THAN,
	TOKEN_LESS_THAN,
	TOKEN_NOT,
	TOKEN_COMMA,
	TOKEN_OPEN,
	TOKEN_CLOSE,
};

struct token {
	enum token_type type;
	struct text text;
};

/* Inside values, "in" and "notin" are plain words. */
enum token_context { IN_OPERATOR, IN_VALUES };

struct parser {
	struct token *tokens; /* the last one is TOKEN_END */
	size_t count, position;
};

static bool is_whitespace(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
	return c && strchr("=!(),<>", c);
}

static struct token next_token(const char **cursor)
{
	const char *p = *cursor;
	while (is_whitespace(*p))
		p++;
	struct token tok = {.type = TOKEN_END, .text = {p, 0}};
	if (!*p) {
		*cursor = p;
		return tok;
	}
	if (is_special(*p)) {
		static const enum token_type single[256] = {
		    ['='] = TOKEN_EQUALS,    ['!'] = TOKEN_NOT,   ['('] = TOKEN_OPEN,
		    [')'] = TOKEN_CLOSE,     [','] = TOKEN_COMMA, ['>'] = TOKEN_GREATER_THAN,
		    ['<'] = TOKEN_LESS_THAN,
		};
		tok.text.len = 1;
		tok.type = single[(unsigned char)*p];
		if ((*p == '=' || *p == '!') && p[1] == '=') {
			tok.type = *p == '=' ? TOKEN_DOUBLE_EQUALS : TOKEN_NOT_EQUALS;
			tok.text.len = 2;
		}
		*cursor = p + tok.text.len;
		return tok;
	}
	const char *end = p;
	while (*end && !is_special(*end) && !is_whitespace(*end))
		end++;
	tok.text.len = (size_t)(end - p);
	tok.type = TOKEN_IDENTIFIER;
	if (tok.text.len == 2 && memcmp(p, "in", 2) == 0)
		tok.type = TOKEN_IN;
	else if (tok.text.len == 5 && memcmp(p, "notin", 5) == 0)
		tok.type = TOKEN_NOT_IN;
	*cursor = end;
	return tok;
}

static void scan(struct parser *p, const char *text)
{
	size_t capacity = 0;
	for (;;) {
		if (p->count == capacity) {
			capacity = capacity ? capacity * 2 : 16;
			struct token *grown = realloc(p->tokens, capacity * sizeof(*grown));
			if (!grown)
				abort();
			p->tokens = grown;
		}
		struct token tok = next_token(&text);
		p->tokens[p->count++] = tok;
		if (tok.type == TOKEN_END)
			return;
	}
}

static struct token read_token(const struct parser *p, enum token_context context)
{
	struct token tok = p->tokens[p->position];
	if (context == IN_VALUES && (tok.type == TOKEN_IN || tok.type == TOKEN_NOT_IN))
		tok.type = TOKEN_IDENTIFIER;
	return tok;
}

static struct token lookahead(const struct parser *p, enum token_context context)
{
	return read_token(p, context);
}

static struct token consume(struct parser *p, enum token_context context)
{
	struct token tok = read_token(p, context);
	if (p->position + 1 < p->count)
		p->position++;
	return tok;
}

static int unexpected(struct ck_error *err, struct token found, const char *expected)
{
	return ck_error_set(err, EINVAL, "found '%.*s', expected: %s", (int)found.text.len,
			    found.text.data, expected);
}

/* The values read so far for one requirement. */
struct value_list {
	struct text *items;
	size_t count, capacity;
};

static void value_list_add(struct value_list *list, struct text value)
{
	if (list->count == list->capacity) {
		list->capacity = list->capacity ? list->capacity * 2 : 4;
		struct text *grown = realloc(list->items, list->capacity * sizeof(*grown));
		if (!grown)
			abort();
		list->items = grown;
	}
	list->items[list->count++] = value;
}

static void value_list_free(struct value_list *list)
{
	free(list->items);
}

static int compare_texts(const void *a, const void *b)
{
	const struct text *x = a, *y = b;
	int common = memcmp(x->data, y->data, x->len < y->len ? x->len : y->len);
	if (common != 0)
		return common;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Kubernetes collects parsed values in a set: sorted, each once. */
static void value_list_make_set(struct value_list *list)
{
	if (list->count > 1)
		qsort(list->items, list->count, sizeof(*list->items), compare_texts);
	size_t kept = 0;
	for (size_t i = 0; i < list->count; i++)
		if (kept == 0 || compare_texts(&list->items[kept - 1], &list->items[i]) != 0)
			list->items[kept++] = list->items[i];
	list->count = kept;
}

static const struct text empty_text = {"", 0};

/* After "(": "a,b)", with empty values where a comma has nothing on one side. */
static int parse_value_set(struct parser *p, struct value_list *values, struct ck_error *err)
{
	struct token tok = consume(p, IN_VALUES);
	if (tok.type != TOKEN_OPEN)
		return ck_error_set(err, EINVAL, "found '%.*s' expected: '('", (int)tok.text.len,
				    tok.text.data);
	tok = lookahead(p, IN_VALUES);
	if (tok.type == TOKEN_CLOSE) {
		consume(p, IN_VALUES);
		value_list_add(values, empty_text);
		return 0;
	}
	if (tok.type != TOKEN_IDENTIFIER && tok.type != TOKEN_COMMA)
		return unexpected(err, tok, "',', ')' or identifier");
	for (;;) {
		tok = consume(p, IN_VALUES);
		struct token next = lookahead(p, IN_VALUES);
		if (tok.type == TOKEN_IDENTIFIER) {
			value_list_add(values, tok.text);
			if (next.type == TOKEN_CLOSE)
				break;
			if (next.type != TOKEN_COMMA)
				return unexpected(err, next, "',' or ')'");
		} else if (tok.type == TOKEN_COMMA) {
			if (values->count == 0 || next.type == TOKEN_CLOSE ||
			    next.type == TOKEN_COMMA)
				value_list_add(values, empty_text);
			if (next.type == TOKEN_CLOSE)
				break;
		} else {
			return unexpected(err, tok, "',', or identifier");
		}
	}
	consume(p, IN_VALUES);
	return 0;
}

static int parse_exact_value(struct parser *p, struct value_list *values, struct ck_error *err)
{
	struct token tok = lookahead(p, IN_VALUES);
	if (tok.type == TOKEN_END || tok.type == TOKEN_COMMA) {
		value_list_add(values, empty_text);
		return 0;
	}
	tok = consume(p, IN_VALUES);
	if (tok.type != TOKEN_IDENTIFIER)
		return unexpected(err, tok, "identifier");
	value_list_add(values, tok.text);
	return 0;
}

static int parse_operator(struct parser *p, enum label_operator *op, struct ck_error *err)
{
	struct token tok = consume(p, IN_OPERATOR);
	switch (tok.type) {
	case TOKEN_IN:
		*op = LABEL_OP_IN;
		return 0;
	case TOKEN_NOT_IN:
		*op = LABEL_OP_NOT_IN;
		return 0;
	case TOKEN_EQUALS:
		*op = LABEL_OP_EQUALS;
		return 0;
	case TOKEN_DOUBLE_EQUALS:
		*op = LABEL_OP_DOUBLE_EQUALS;
		return 0;
	case TOKEN_NOT_EQUALS:
		*op = LABEL_OP_NOT_EQUALS;
		return 0;
	case TOKEN_GREATER_THAN:
		*op = LABEL_OP_GREATER_THAN;
		return 0;
	case TOKEN_LESS_THAN:
		*op = LABEL_OP_LESS_THAN;
		return 0;
	default:
		return unexpected(err, tok, "in, notin, =, ==, !=, gt, lt");
	}
}

static int parse_requirement(struct parser *p, struct label_selector *sel, struct ck_error *err)
{
	struct token tok = consume(p, IN_VALUES);
	bool negated = tok.type == TOKEN_NOT;
	if (negated)
		tok = consume(p, IN_VALUES);
	if (tok.type != TOKEN_IDENTIFIER)
		return unexpected(err, tok, "identifier");
	struct text key = tok.text;
	_cleanup_free_ char *key_problem = check_label_text(validate_qualified_name, key);
	if (key_problem) {
		_cleanup_buf_ struct buf quoted = {0};
		strconv_append_quoted(&quoted, key.data, key.len);
		return ck_error_set(err, EINVAL, "<nil>: Invalid value: %s: %s", quoted.data,
				    key_problem);
	}
	enum token_type next = lookahead(p, IN_VALUES).type;
	if (negated)
		return add_requirement(sel, key, LABEL_OP_DOES_NOT_EXIST, NULL, 0, err);
	if (next == TOKEN_END || next == TOKEN_COMMA)
		return add_requirement(sel, key, LABEL_OP_EXISTS, NULL, 0, err);

	enum label_operator op = LABEL_OP_EXISTS;
	int ret = parse_operator(p, &op, err);
	if (ret < 0)
		return ret;
	_cleanup_(value_list_free) struct value_list values = {0};
	if (op == LABEL_OP_IN || op == LABEL_OP_NOT_IN)
		ret = parse_value_set(p, &values, err);
	else
		ret = parse_exact_value(p, &values, err);
	if (ret < 0)
		return ret;
	value_list_make_set(&values);
	return add_requirement(sel, key, op, values.items, values.count, err);
}

static void parser_free(struct parser *p)
{
	free(p->tokens);
}

static int parse_requirements(struct parser *p, struct label_selector *sel, struct ck_error *err)
{
	for (;;) {
		struct token tok = lookahead(p, IN_VALUES);
		if (tok.type == TOKEN_END)
			return 0;
		if (tok.type != TOKEN_IDENTIFIER && tok.type != TOKEN_NOT)
			return unexpected(err, tok, "!, identifier, or 'end of string'");
		if (parse_requirement(p, sel, err) < 0)
			return ck_error_prefix(err, "unable to parse requirement");
		tok = consume(p, IN_VALUES);
		if (tok.type == TOKEN_END)
			return 0;
		if (tok.type != TOKEN_COMMA)
			return unexpected(err, tok, "',' or 'end of string'");
		struct token next = lookahead(p, IN_VALUES);
		if (next.type != TOKEN_IDENTIFIER && next.type != TOKEN_NOT)
			return unexpected(err, next, "identifier after ','");
	}
}

int label_selector_parse(const char *text, struct label_selector **out, struct ck_error *err)
{
	_cleanup_(parser_free) struct parser p = {0};
	scan(&p, text);
	_cleanup_selector_ struct label_selector *sel = selector_new(false);
	int ret = parse_requirements(&p, sel, err);
	if (ret < 0)
		return ret;
	sort_requirements(sel);
	*out = steal_ptr(&sel);
	return 0;
}

static struct text json_text(const json_t *string)
{
	return (struct text){json_string_value(string), json_string_length(string)};
}

static int add_match_labels(struct label_selector *sel, const json_t *map, const char *what,
			    struct ck_error *err)
{
	/* Keys are taken with their length: a JSON key may hold a NUL byte. */
	for (void *iter = json_object_iter((json_t *)map); iter;
	     iter = json_object_iter_next((json_t *)map, iter)) {
		const char *key = json_object_iter_key(iter);
		const json_t *value = json_object_iter_value(iter);
		if (!json_is_string(value))
			return ck_error_set(err, EINVAL, "%s: the value of \"%s\" must be a string",
					    what, key);
		struct text label_key = {key, json_object_iter_key_len(iter)};
		struct text label_value = json_text(value);
		int ret = add_requirement(sel, label_key, LABEL_OP_EQUALS, &label_value, 1, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int expression_operator(const json_t *name, enum label_operator *op, struct ck_error *err)
{
	static const struct {
		const char *name;
		enum label_operator op;
	} operators[] = {
	    {"In", LABEL_OP_IN},
	    {"NotIn", LABEL_OP_NOT_IN},
	    {"Exists", LABEL_OP_EXISTS},
	    {"DoesNotExist", LABEL_OP_DOES_NOT_EXIST},
	};
	struct text text = json_is_string(name) ? json_text(name) : empty_text;
	for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++) {
		if (text.len == strlen(operators[i].name) &&
		    memcmp(text.data, operators[i].name, text.len) == 0) {
			*op = operators[i].op;
			return 0;
		}
	}
	_cleanup_buf_ struct buf quoted = {0};
	strconv_append_quoted(&quoted, text.data, text.len);
	return ck_error_set(err, EINVAL, "%s is not a valid label selector operator", quoted.data);
}

static int add_match_expression(struct label_selector *sel, const json_t *expression,
				struct ck_error *err)
{
	if (!json_is_object(expression))
		return ck_error_set(err, EINVAL, "matchExpressions: each entry must be an object");
	const json_t *key = json_object_get(expression, "key");
	const json_t *values = json_object_get(expression, "values");
	if (key && !json_is_null(key) && !json_is_string(key))
		return ck_error_set(err, EINVAL, "matchExpressions: key must be a string");
	if (values && !json_is_null(values) && !json_is_array(values))
		return ck_error_set(err, EINVAL, "matchExpressions: values must be a list");
	enum label_operator op = LABEL_OP_EXISTS;
	int ret = expression_operator(json_object_get(expression, "operator"), &op, err);
	if (ret < 0)
		return ret;

	size_t count = json_array_size(values);
	_cleanup_free_ struct text *texts = calloc(count ? count : 1, sizeof(*texts));
	if (!texts)
		abort();
	for (size_t i = 0; i < count; i++) {
		const json_t *value = json_array_get(values, i);
		if (!json_is_string(value))
			return ck_error_set(err, EINVAL,
					    "matchExpressions: values must be strings");
		texts[i] = json_text(value);
	}
	struct text key_text = json_is_string(key) ? json_text(key) : empty_text;
	return add_requirement(sel, key_text, op, texts, count, err);
}

int label_selector_from_json(const json_t *selector, struct label_selector **out,
			     struct ck_error *err)
{
	if (!selector || json_is_null(selector)) {
		*out = selector_new(true);
		return 0;
	}
	if (!json_is_object(selector))
		return ck_error_set(err, EINVAL, "a label selector must be an object");
	const json_t *match_labels = json_object_get(selector, "matchLabels");
	const json_t *expressions = json_object_get(selector, "matchExpressions");
	if (match_labels && !json_is_null(match_labels) && !json_is_object(match_labels))
		return ck_error_set(err, EINVAL, "matchLabels must be an object of strings");
	if (expressions && !json_is_null(expressions) && !json_is_array(expressions))
		return ck_error_set(err, EINVAL, "matchExpressions must be a list");

	_cleanup_selector_ struct label_selector *sel = selector_new(false);
	int ret = add_match_labels(sel, match_labels, "matchLabels", err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < json_array_size(expressions); i++) {
		ret = add_match_expression(sel, json_array_get(expressions, i), err);
		if (ret < 0)
			return ret;
	}
	sort_requirements(sel);
	*out = steal_ptr(&sel);
	return 0;
}

int label_selector_from_map(const json_t *map, struct label_selector **out, struct ck_error *err)
{
	if (map && !json_is_null(map) && !json_is_object(map))
		return ck_error_set(err, EINVAL, "a selector must be an object of strings");
	_cleanup_selector_ struct label_selector *sel = selector_new(json_object_size(map) == 0);
	int ret = add_match_labels(sel, map, "selector", err);
	if (ret < 0)
		return ret;
	sort_requirements(sel);
	*out = steal_ptr(&sel);
	return 0;
}

static bool has_value(const struct label_requirement *req, const json_t *value)
{
	const char *text = json_string_value(value);
	size_t len = json_string_length(value);
	for (size_t i = 0; i < req->value_count; i++)
		if (strlen(req->values[i]) == len && memcmp(req->values[i], text, len) == 0)
			return true;
	return false;
}

static bool requirement_matches(const struct label_requirement *req, const json_t *labels)
{
	const json_t *value = json_object_get(labels, req->key);
	if (!json_is_string(value))
		value = NULL;
	int64_t number;
	switch (req->op) {
	case LABEL_OP_EQUALS:
	case LABEL_OP_DOUBLE_EQUALS:
	case LABEL_OP_IN:
		return value && has_value(req, value);
	case LABEL_OP_NOT_EQUALS:
	case LABEL_OP_NOT_IN:
		return !value || !has_value(req, value);
	case LABEL_OP_EXISTS:
		return value != NULL;
	case LABEL_OP_DOES_NOT_EXIST:
		return value == NULL;
	case LABEL_OP_GREATER_THAN:
	case LABEL_OP_LESS_THAN:
		if (!value || strlen(json_string_value(value)) != json_string_length(value) ||
		    strconv_parse_int(json_string_value(value), INT64_MIN, INT64_MAX, &number,
				      NULL) < 0)
			return false;
		return req->op == LABEL_OP_GREATER_THAN ? number > req->bound : number < req->bound;
	}
	return false;
}

bool label_selector_matches(const struct label_selector *sel, const json_t *labels)
{
	if (sel->selects_nothing)
		return false;
	for (size_t i = 0; i < sel->count; i++)
		if (!requirement_matches(&sel->requirements[i], labels))
			return false;
	return true;
}

bool label_selector_selects_everything(const struct label_selector *sel)
{
	return !sel->selects_nothing && sel->count == 0;
}

static void format_requirement(const struct label_requirement *req, struct buf *out)
{
	static const char *const spelling[] = {
	    [LABEL_OP_EQUALS] = "=",        [LABEL_OP_DOUBLE_EQUALS] = "==",
	    [LABEL_OP_NOT_EQUALS] = "!=",   [LABEL_OP_IN] = " in (",
	    [LABEL_OP_NOT_IN] = " notin (", [LABEL_OP_EXISTS] = "",
	    [LABEL_OP_DOES_NOT_EXIST] = "", [LABEL_OP_GREATER_THAN] = ">",
	    [LABEL_OP_LESS_THAN] = "<",
	};
	if (req->op == LABEL_OP_DOES_NOT_EXIST)
		buf_putc(out, '!');
	buf_puts(out, req->key);
	buf_puts(out, spelling[req->op]);
	for (size_t i = 0; i < req->value_count; i++) {
		if (i > 0)
			buf_putc(out, ',');
		buf_puts(out, req->values[i]);
	}
	if (req->op == LABEL_OP_IN || req->op == LABEL_OP_NOT_IN)
		buf_putc(out, ')');
}

char *label_selector_format(const struct label_selector *sel)
{
	struct buf out = {0};
	for (size_t i = 0; i < sel->count; i++) {
		if (i > 0)
			buf_putc(&out, ',');
		format_requirement(&sel->requirements[i], &out);
	}
	return buf_steal(&out);
}
