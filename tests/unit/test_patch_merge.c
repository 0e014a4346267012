/* JSON merge patch (RFC 7386): the examples of its appendix A, and ownership of the result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver/patch.h"
#include "lib/cleanup.h"

/* Test documents use single quotes, which no test string needs as a character. */
static json_t *parse(const char *text)
{
	_cleanup_free_ char *json = strdup(text);
	for (char *c = json; *c; c++)
		if (*c == '\'')
			*c = '"';
	json_error_t error;
	json_t *value = json_loads(json, JSON_DECODE_ANY, &error);
	if (!value)
		fail_msg("bad test JSON %s: %s", text, error.text);
	return value;
}

static void assert_json(const json_t *actual, const char *expected_text)
{
	_cleanup_json_ json_t *expected = parse(expected_text);
	if (!json_equal(actual, expected)) {
		_cleanup_free_ char *got = json_dumps(actual, JSON_COMPACT | JSON_ENCODE_ANY);
		fail_msg("expected %s\n     got %s", expected_text, got);
	}
}

static void test_rfc7386_examples(void **state)
{
	(void)state;
	static const struct {
		const char *original, *patch, *result;
	} cases[] = {
	    {"{'a':'b'}", "{'a':'c'}", "{'a':'c'}"},
	    {"{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}"},
	    {"{'a':'b'}", "{'a':null}", "{}"},
	    {"{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}"},
	    {"{'a':['b']}", "{'a':'c'}", "{'a':'c'}"},
	    {"{'a':'c'}", "{'a':['b']}", "{'a':['b']}"},
	    {"{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}"},
	    {"{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}"},
	    {"['a','b']", "['c','d']", "['c','d']"},
	    {"{'a':'b'}", "['c']", "['c']"},
	    {"{'a':'foo'}", "null", "null"},
	    {"{'a':'foo'}", "'bar'", "'bar'"},
	    {"{'e':null}", "{'a':1}", "{'e':null,'a':1}"},
	    {"[1,2]", "{'a':'b','c':null}", "{'a':'b'}"},
	    {"{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_json_ json_t *original = parse(cases[i].original);
		_cleanup_json_ json_t *patch = parse(cases[i].patch);
		_cleanup_json_ json_t *result = merge_patch_apply(original, patch);
		assert_non_null(result);
		assert_json(result, cases[i].result);
	}
}

static void test_kubernetes_labels_and_lists(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod =
	    parse("{'metadata':{'name':'web','labels':{'app':'web','tier':'front'}},"
		  "'spec':{'containers':[{'name':'a','image':'a:1'},{'name':'b','image':'b:1'}]}}");
	_cleanup_json_ json_t *patch = parse("{'metadata':{'labels':{'tier':null,'env':'prod'}},"
					     "'spec':{'containers':[{'name':'a','image':'a:2'}]}}");
	_cleanup_json_ json_t *result = merge_patch_apply(pod, patch);
	/* Unlike a strategic merge patch, the list is replaced whole. */
	assert_json(result, "{'metadata':{'name':'web','labels':{'app':'web','env':'prod'}},"
			    "'spec':{'containers':[{'name':'a','image':'a:2'}]}}");
}

static void test_result_shares_nothing_with_inputs(void **state)
{
	(void)state;
	_cleanup_json_ json_t *original = parse("{'keep':{'x':1},'list':[1]}");
	_cleanup_json_ json_t *patch = parse("{'new':{'y':2}}");
	_cleanup_json_ json_t *result = merge_patch_apply(original, patch);
	assert_non_null(result);
	json_object_set_new(json_object_get(result, "keep"), "x", json_integer(9));
	json_object_set_new(json_object_get(result, "new"), "y", json_integer(9));
	json_array_append_new(json_object_get(result, "list"), json_integer(9));
	assert_json(original, "{'keep':{'x':1},'list':[1]}");
	assert_json(patch, "{'new':{'y':2}}");
}

static json_t *nest(int levels)
{
	json_t *value = json_string("bottom");
	for (int i = 0; i < levels; i++) {
		json_t *outer = json_object();
		json_object_set_new(outer, "a", value);
		value = outer;
	}
	return value;
}

static void test_depth_is_bounded(void **state)
{
	(void)state;
	_cleanup_json_ json_t *original = json_object();
	_cleanup_json_ json_t *too_deep = nest(PATCH_MAX_DEPTH + 1);
	assert_null(merge_patch_apply(original, too_deep));

	_cleanup_json_ json_t *deep_enough = nest(PATCH_MAX_DEPTH - 1);
	_cleanup_json_ json_t *result = merge_patch_apply(original, deep_enough);
	assert_true(json_equal(result, deep_enough));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7386_examples),
	    cmocka_unit_test(test_kubernetes_labels_and_lists),
	    cmocka_unit_test(test_result_shares_nothing_with_inputs),
	    cmocka_unit_test(test_depth_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
