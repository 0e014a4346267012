/* The JSON helpers; above all, json_dump_compact() writes exactly what jansson's own
 * json_dumps(JSON_COMPACT) writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json_util.h"

static void assert_same_as_jansson(const json_t *value)
{
	_cleanup_free_ char *ours = json_dump_compact(value);
	_cleanup_free_ char *theirs = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(theirs);
	assert_string_equal(ours, theirs);
}

static void documents_match_jansson(void **state)
{
	(void)state;
	static const char *const documents[] = {
	    "{}",
	    "[]",
	    "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"labels\":{\"a\":\"b\"}},"
	    "\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80}]}]}}",
	    "[1,-2,9223372036854775807,-9223372036854775808,0]",
	    "[0.1,1.0,-0.0,1e300,2.5e-10,123456789.0,3.141592653589793]",
	    "[true,false,null,\"\",[],{},[[{}]]]",
	    "{\"quote\":\"a\\\"b\",\"backslash\":\"a\\\\b\",\"slash\":\"a/b\",\"controls\":"
	    "\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"}",
	    "{\"unicode\":\"h\\u00e9llo \\u2028 \\ud83d\\ude00 \\u4e2d\"}",
	    "{\"nul\":\"a\\u0000b\"}",
	};
	for (size_t i = 0; i < sizeof(documents) / sizeof(documents[0]); i++) {
		json_error_t error;
		_cleanup_json_ json_t *value = json_loads(documents[i], JSON_ALLOW_NUL, &error);
		if (!value)
			fail_msg("document %zu: %s", i, error.text);
		assert_same_as_jansson(value);
	}
}

static void insertion_order_is_kept(void **state)
{
	(void)state;
	_cleanup_json_ json_t *obj = json_object();
	json_object_set_new(obj, "zebra", json_integer(1));
	json_object_set_new(obj, "apple", json_integer(2));
	json_object_set_new(obj, "mango", json_integer(3));
	_cleanup_free_ char *text = json_dump_compact(obj);
	assert_string_equal(text, "{\"zebra\":1,\"apple\":2,\"mango\":3}");
	assert_same_as_jansson(obj);
}

static void scalars_on_their_own(void **state)
{
	(void)state;
	_cleanup_json_ json_t *s = json_string("x");
	_cleanup_json_ json_t *n = json_integer(42);
	assert_same_as_jansson(s);
	assert_same_as_jansson(n);
}

static void paths_walk_objects(void **state)
{
	(void)state;
	_cleanup_json_ json_t *obj = json_loads("{\"a\":{\"b\":{\"c\":\"d\"}},\"x\":1}", 0, NULL);
	assert_string_equal(json_path_string(obj, "a.b.c"), "d");
	assert_null(json_path(obj, "a.b.c.d"));
	assert_null(json_path(obj, "x.y"));
	assert_null(json_path_string(obj, "x"));
	json_t *made = json_object_ensure(obj, "new");
	assert_true(json_is_object(made));
	assert_ptr_equal(json_object_ensure(obj, "new"), made);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(documents_match_jansson),
	    cmocka_unit_test(insertion_order_is_kept),
	    cmocka_unit_test(scalars_on_their_own),
	    cmocka_unit_test(paths_walk_objects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
