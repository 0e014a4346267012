/* Field selectors: terms, escapes, exact-match lookups, matching and Kubernetes' messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fields.h"

static void selector_freep(struct field_selector **sel)
{
	field_selector_free(*sel);
}
#define _cleanup_selector_ _cleanup_(selector_freep)

static struct field_selector *parse_ok(const char *text)
{
	struct field_selector *sel = NULL;
	struct ck_error err = {0};
	if (field_selector_parse(text, &sel, &err) < 0)
		fail_msg("\"%s\" refused: %s", text, err.message);
	return sel;
}

static void assert_parse_fails(const char *text, const char *message)
{
	struct field_selector *sel = NULL;
	struct ck_error err = {0};
	assert_int_equal(field_selector_parse(text, &sel, &err), -EINVAL);
	assert_null(sel);
	assert_string_equal(err.message, message);
}

static bool matches(const struct field_selector *sel, const char *fields_json)
{
	json_t *fields = json_loads(fields_json, JSON_ALLOW_NUL, NULL);
	assert_non_null(fields);
	bool result = field_selector_matches(sel, fields);
	json_decref(fields);
	return result;
}

static void test_empty_selects_everything(void **state)
{
	(void)state;
	static const char *const empty[] = {"", ",", ",,", "=", "=,!=", "=="};
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		_cleanup_selector_ struct field_selector *sel = parse_ok(empty[i]);
		assert_int_equal(field_selector_count(sel), 0);
		assert_true(matches(sel, "{}"));
		assert_true(matches(sel, "{\"metadata.name\": \"web\"}"));
		assert_null(field_selector_exact(sel, "metadata.name"));
	}
}

static void test_terms(void **state)
{
	(void)state;
	_cleanup_selector_ struct field_selector *sel =
	    parse_ok("status.phase!=Failed,metadata.name=web,spec.nodeName==node-1");
	/* Sorted by their text, as Kubernetes keeps them. */
	assert_int_equal(field_selector_count(sel), 3);
	assert_string_equal(field_selector_field(sel, 0), "metadata.name");
	assert_string_equal(field_selector_field(sel, 1), "spec.nodeName");
	assert_string_equal(field_selector_field(sel, 2), "status.phase");
	assert_null(field_selector_field(sel, 3));
	assert_string_equal(field_selector_exact(sel, "metadata.name"), "web");
	assert_string_equal(field_selector_exact(sel, "spec.nodeName"), "node-1");
	assert_null(field_selector_exact(sel, "status.phase")); /* != is no exact match */
	assert_null(field_selector_exact(sel, "metadata.namespace"));

	assert_true(matches(sel, "{\"metadata.name\": \"web\", \"spec.nodeName\": \"node-1\", "
				 "\"status.phase\": \"Running\"}"));
	assert_false(matches(sel, "{\"metadata.name\": \"web\", \"spec.nodeName\": \"node-1\", "
				  "\"status.phase\": \"Failed\"}"));
	assert_false(matches(sel, "{\"metadata.name\": \"web2\", \"spec.nodeName\": \"node-1\"}"));
}

static void test_missing_fields_compare_as_empty(void **state)
{
	(void)state;
	_cleanup_selector_ struct field_selector *empty = parse_ok("spec.nodeName=");
	assert_true(matches(empty, "{}"));
	assert_true(matches(empty, "{\"spec.nodeName\": \"\"}"));
	assert_true(matches(empty, "{\"spec.nodeName\": 7}")); /* not a string: "" */
	assert_false(matches(empty, "{\"spec.nodeName\": \"n1\"}"));

	_cleanup_selector_ struct field_selector *set = parse_ok("spec.nodeName!=");
	assert_false(matches(set, "{}"));
	assert_true(matches(set, "{\"spec.nodeName\": \"n1\"}"));

	/* Field values are compared whole, NUL bytes included. */
	_cleanup_selector_ struct field_selector *a = parse_ok("x=a");
	assert_false(matches(a, "{\"x\": \"a\\u0000b\"}"));
}

static void test_names_and_values_as_written(void **state)
{
	(void)state;
	/* Spaces belong to the name and the value; the first operator splits. */
	_cleanup_selector_ struct field_selector *spaced = parse_ok(" metadata.name = web ");
	assert_string_equal(field_selector_field(spaced, 0), " metadata.name ");
	assert_string_equal(field_selector_exact(spaced, " metadata.name "), " web ");

	_cleanup_selector_ struct field_selector *empty_field = parse_ok("=x,!=y");
	assert_int_equal(field_selector_count(empty_field), 2);
	assert_string_equal(field_selector_field(empty_field, 0), "");
	assert_string_equal(field_selector_exact(empty_field, ""), "x");

	_cleanup_selector_ struct field_selector *double_equals = parse_ok("a==");
	assert_string_equal(field_selector_exact(double_equals, "a"), "");

	_cleanup_selector_ struct field_selector *not_utf8 = parse_ok("a=\xff");
	assert_string_equal(field_selector_exact(not_utf8, "a"), "\xff");
}

static void test_escapes(void **state)
{
	(void)state;
	_cleanup_selector_ struct field_selector *sel =
	    parse_ok("a=x\\,y,b=x\\=y,c=x\\\\y,d=\\,\\=\\\\");
	assert_int_equal(field_selector_count(sel), 4);
	assert_string_equal(field_selector_exact(sel, "a"), "x,y");
	assert_string_equal(field_selector_exact(sel, "b"), "x=y");
	assert_string_equal(field_selector_exact(sel, "c"), "x\\y");
	assert_string_equal(field_selector_exact(sel, "d"), ",=\\");
	assert_true(matches(sel, "{\"a\": \"x,y\", \"b\": \"x=y\", \"c\": \"x\\\\y\", "
				 "\"d\": \",=\\\\\"}"));

	/* Once a value needs unescaping it is read as UTF-8: bad bytes become U+FFFD. */
	_cleanup_selector_ struct field_selector *replaced = parse_ok("a=\xff\\,");
	assert_string_equal(field_selector_exact(replaced, "a"), "\xef\xbf\xbd,");
	_cleanup_selector_ struct field_selector *kept = parse_ok("a=caf\xc3\xa9\\,");
	assert_string_equal(field_selector_exact(kept, "a"), "caf\xc3\xa9,");
}

static void test_errors(void **state)
{
	(void)state;
	assert_parse_fails("a", "invalid selector: 'a'; can't understand 'a'");
	assert_parse_fails("a!b", "invalid selector: 'a!b'; can't understand 'a!b'");
	assert_parse_fails("a=1,b", "invalid selector: 'a=1,b'; can't understand 'b'");
	/* Terms are checked in sorted order. */
	assert_parse_fails("z,a", "invalid selector: 'z,a'; can't understand 'a'");
	assert_parse_fails("a=b=c", "invalid field selector: unescaped character in value: 61");
	assert_parse_fails("a!==b", "invalid field selector: unescaped character in value: 61");
	assert_parse_fails("a\\=b=c", "invalid field selector: unescaped character in value: 61");
	assert_parse_fails("a=x\\y", "invalid field selector: invalid escape sequence: \\y");
	assert_parse_fails("a=x\\", "invalid field selector: invalid escape sequence: \\");
	assert_parse_fails("a=\\\xc3\xa9",
			   "invalid field selector: invalid escape sequence: \\\xc3\xa9");
	assert_parse_fails("a=\\\xff",
			   "invalid field selector: invalid escape sequence: \\\xef\xbf\xbd");
	/* An escaped comma does not split terms, so the '=' after it is in the value. */
	assert_parse_fails("a=1\\,b=2", "invalid field selector: unescaped character in value: 61");
}

static void test_exact_skips_negated_terms(void **state)
{
	(void)state;
	_cleanup_selector_ struct field_selector *sel =
	    parse_ok("metadata.name=b,metadata.name!=a");
	assert_string_equal(field_selector_field(sel, 0), "metadata.name");
	assert_string_equal(field_selector_exact(sel, "metadata.name"), "b");
	assert_true(matches(sel, "{\"metadata.name\": \"b\"}"));
	assert_false(matches(sel, "{\"metadata.name\": \"a\"}"));
}

/* Fields kept as parallel arrays, as a caller with its own storage would. */
struct field_table {
	const char *const *names;
	const char *const *values;
	size_t count;
};

static const char *table_lookup(const void *ctx, const char *field, size_t *len)
{
	const struct field_table *table = ctx;
	for (size_t i = 0; i < table->count; i++) {
		if (strcmp(table->names[i], field) == 0) {
			*len = strlen(table->values[i]);
			return table->values[i];
		}
	}
	return NULL;
}

static void test_matches_with_lookup(void **state)
{
	(void)state;
	static const char *const names[] = {"metadata.name", "spec.nodeName"};
	static const char *const values[] = {"web", "node-1"};
	const struct field_table table = {names, values, 2};
	_cleanup_selector_ struct field_selector *sel =
	    parse_ok("metadata.name=web,spec.nodeName!=node-2,status.phase=");
	assert_true(field_selector_matches_with(sel, table_lookup, &table));
	_cleanup_selector_ struct field_selector *other = parse_ok("spec.nodeName=node-2");
	assert_false(field_selector_matches_with(other, table_lookup, &table));
	/* A missing field is "". */
	_cleanup_selector_ struct field_selector *missing = parse_ok("status.phase!=");
	assert_false(field_selector_matches_with(missing, table_lookup, &table));
}

static void test_free_null(void **state)
{
	(void)state;
	field_selector_free(NULL);
}

static void test_many_terms(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf text = {0};
	for (int i = 0; i < 50000; i++)
		buf_printf(&text, "%sf%d=v%d", i ? "," : "", i, i);
	_cleanup_selector_ struct field_selector *sel = parse_ok(text.data);
	assert_int_equal(field_selector_count(sel), 50000);
	assert_string_equal(field_selector_exact(sel, "f49999"), "v49999");
}

static uint32_t next_random(uint32_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	return *seed;
}

static void test_random_text_never_breaks(void **state)
{
	(void)state;
	static const char *const atoms[] = {
	    "a",   "b.c", "=",    "==", "!=",   "!",        ",", "\\",
	    "\\,", "\\=", "\\\\", " ",  "\xff", "\xc3\xa9", "x"};
	uint32_t seed = 777;
	for (int round = 0; round < 20000; round++) {
		char text[64] = "";
		int atoms_in_text = (int)(next_random(&seed) % 12);
		for (int i = 0; i < atoms_in_text; i++)
			strcat(text,
			       atoms[next_random(&seed) % (sizeof(atoms) / sizeof(atoms[0]))]);
		struct field_selector *sel = NULL;
		struct ck_error err = {0};
		if (field_selector_parse(text, &sel, &err) < 0) {
			assert_null(sel);
			assert_true(err.message[0] != '\0');
			continue;
		}
		for (size_t i = 0; i < field_selector_count(sel); i++)
			assert_non_null(field_selector_field(sel, i));
		assert_null(field_selector_field(sel, field_selector_count(sel)));
		matches(sel, "{\"a\": \"x\"}");
		field_selector_free(sel);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_selects_everything),
	    cmocka_unit_test(test_terms),
	    cmocka_unit_test(test_missing_fields_compare_as_empty),
	    cmocka_unit_test(test_names_and_values_as_written),
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_exact_skips_negated_terms),
	    cmocka_unit_test(test_matches_with_lookup),
	    cmocka_unit_test(test_free_null),
	    cmocka_unit_test(test_many_terms),
	    cmocka_unit_test(test_random_text_never_breaks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
