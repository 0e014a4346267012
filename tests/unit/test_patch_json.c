/* JSON patch (RFC 6902): the examples of its appendix A, Kubernetes' limits and error
 * messages. */
#include <errno.h>
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

static void assert_patches_to(const char *original_text, const char *operations_text,
			      const char *expected)
{
	_cleanup_json_ json_t *original = parse(original_text);
	_cleanup_json_ json_t *operations = parse(operations_text);
	_cleanup_json_ json_t *result = NULL;
	struct ck_error err = {0};
	int rc = json_patch_apply(original, operations, &result, &err);
	if (rc != 0)
		fail_msg("patch %s failed: %s", operations_text, err.message);
	assert_json(result, expected);
	assert_json(original, original_text);
}

/* Fails with `code` and a message equal to `message`; the result stays untouched. */
static void assert_patch_fails(const char *original_text, const char *operations_text, int code,
			       const char *message)
{
	_cleanup_json_ json_t *original = parse(original_text);
	_cleanup_json_ json_t *operations = parse(operations_text);
	json_t *result = (json_t *)0x1;
	struct ck_error err = {0};
	assert_int_equal(json_patch_apply(original, operations, &result, &err), -code);
	assert_ptr_equal(result, (json_t *)0x1);
	assert_int_equal(err.code, code);
	assert_string_equal(err.message, message);
	assert_json(original, original_text);
}

static void test_rfc6902_examples(void **state)
{
	(void)state;
	assert_patches_to("{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux'}]",
			  "{'baz':'qux','foo':'bar'}");
	assert_patches_to("{'foo':['bar','baz']}", "[{'op':'add','path':'/foo/1','value':'qux'}]",
			  "{'foo':['bar','qux','baz']}");
	assert_patches_to("{'baz':'qux','foo':'bar'}", "[{'op':'remove','path':'/baz'}]",
			  "{'foo':'bar'}");
	assert_patches_to("{'foo':['bar','qux','baz']}", "[{'op':'remove','path':'/foo/1'}]",
			  "{'foo':['bar','baz']}");
	assert_patches_to("{'baz':'qux','foo':'bar'}",
			  "[{'op':'replace','path':'/baz','value':'boo'}]",
			  "{'baz':'boo','foo':'bar'}");
	assert_patches_to("{'foo':{'bar':'baz','waldo':'fred'},'qux':{'corge':'grault'}}",
			  "[{'op':'move','from':'/foo/waldo','path':'/qux/thud'}]",
			  "{'foo':{'bar':'baz'},'qux':{'corge':'grault','thud':'fred'}}");
	assert_patches_to("{'foo':['all','grass','cows','eat']}",
			  "[{'op':'move','from':'/foo/1','path':'/foo/3'}]",
			  "{'foo':['all','cows','eat','grass']}");
	assert_patches_to("{'baz':'qux','foo':['a',2,'c']}",
			  "[{'op':'test','path':'/baz','value':'qux'},"
			  "{'op':'test','path':'/foo/1','value':2}]",
			  "{'baz':'qux','foo':['a',2,'c']}");
	assert_patches_to("{'foo':'bar'}", "[{'op':'add','path':'/child','value':{'grand':'c'}}]",
			  "{'foo':'bar','child':{'grand':'c'}}");
	/* A.11: members an operation does not use are ignored. */
	assert_patches_to("{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux','xyz':1}]",
			  "{'foo':'bar','baz':'qux'}");
	/* A.14: "~01" is "~1", not "/". */
	assert_patches_to("{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':10}]",
			  "{'/':9,'~1':10}");
	assert_patches_to("{'foo':['bar']}", "[{'op':'add','path':'/foo/-','value':['abc','def']}]",
			  "{'foo':['bar',['abc','def']]}");
}

static void test_rfc6902_failures(void **state)
{
	(void)state;
	assert_patch_fails("{'baz':'qux'}", "[{'op':'test','path':'/baz','value':'bar'}]", EINVAL,
			   "operation 0 (test /baz): test failed: the value differs");
	assert_patch_fails("{'foo':'bar'}", "[{'op':'add','path':'/baz/bat','value':'qux'}]",
			   EINVAL, "operation 0 (add /baz/bat): path not found");
	/* A.15: a string is not a number. */
	assert_patch_fails("{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':'10'}]", EINVAL,
			   "operation 0 (test /~01): test failed: the value differs");
}

static void test_pointers_and_indexes(void **state)
{
	(void)state;
	assert_patches_to("{'a/b':{'m~n':1}}", "[{'op':'replace','path':'/a~1b/m~0n','value':2}]",
			  "{'a/b':{'m~n':2}}");
	assert_patches_to("{'':{'':1}}", "[{'op':'replace','path':'//','value':2}]", "{'':{'':2}}");
	assert_patches_to("{'l':[1,2]}", "[{'op':'add','path':'/l/-','value':3}]", "{'l':[1,2,3]}");
	assert_patches_to("{'l':[1,2]}", "[{'op':'add','path':'/l/2','value':3}]", "{'l':[1,2,3]}");
	assert_patches_to("{'a':1}", "[{'op':'replace','path':'','value':[1]}]", "[1]");
	assert_patches_to("{'a':1}", "[{'op':'add','path':'','value':{'b':2}}]", "{'b':2}");
	assert_patches_to("{'a':1}", "[{'op':'add','path':'/a','value':null}]", "{'a':null}");

	assert_patch_fails("{'l':[1,2]}", "[{'op':'add','path':'/l/3','value':3}]", EINVAL,
			   "operation 0 (add /l/3): array index 3 out of range (size 2)");
	assert_patch_fails("{'l':[1,2]}", "[{'op':'replace','path':'/l/2','value':3}]", EINVAL,
			   "operation 0 (replace /l/2): array index 2 out of range (size 2)");
	assert_patch_fails("{'l':[1,2]}", "[{'op':'add','path':'/l/01','value':3}]", EINVAL,
			   "operation 0 (add /l/01): \"01\" is not an array index");
	assert_patch_fails("{'l':[1,2]}", "[{'op':'remove','path':'/l/-'}]", EINVAL,
			   "operation 0 (remove /l/-): path not found");
	assert_patch_fails("{'l':[1,2]}", "[{'op':'replace','path':'/l/-','value':0}]", EINVAL,
			   "operation 0 (replace /l/-): \"-\" is not an array index");
	assert_patch_fails("{'l':[1,2]}", "[{'op':'add','path':'/l/-1','value':0}]", EINVAL,
			   "operation 0 (add /l/-1): \"-1\" is not an array index");
	assert_patch_fails("{'s':'text'}", "[{'op':'add','path':'/s/x','value':0}]", EINVAL,
			   "operation 0 (add /s/x): the parent is neither an object nor an array");
	assert_patch_fails("{'a':1}", "[{'op':'remove','path':'/b'}]", EINVAL,
			   "operation 0 (remove /b): path not found");
	assert_patch_fails("{'a':1}", "[{'op':'replace','path':'/b','value':1}]", EINVAL,
			   "operation 0 (replace /b): path not found");
	assert_patch_fails("{'a':1}", "[{'op':'remove','path':''}]", EINVAL,
			   "operation 0 (remove ): cannot remove the whole document");
	assert_patch_fails(
	    "{'a':1}", "[{'op':'remove','path':'a'}]", EINVAL,
	    "operation 0 (remove a): \"path\": a JSON pointer must be empty or start "
	    "with \"/\"");
	assert_patch_fails("{'a':1}", "[{'op':'remove','path':'/a~2'}]", EINVAL,
			   "operation 0 (remove /a~2): \"path\": in a JSON pointer \"~\" must be "
			   "followed by 0 or 1");
	assert_patch_fails("{'a':1}", "[{'op':'remove','path':'/a~'}]", EINVAL,
			   "operation 0 (remove /a~): \"path\": in a JSON pointer \"~\" must be "
			   "followed by 0 or 1");
}

static void test_move_and_copy(void **state)
{
	(void)state;
	assert_patches_to("{'a':{'b':1}}", "[{'op':'copy','from':'/a','path':'/c'}]",
			  "{'a':{'b':1},'c':{'b':1}}");
	assert_patches_to("{'l':[1,2]}", "[{'op':'copy','from':'/l/0','path':'/l/-'}]",
			  "{'l':[1,2,1]}");
	assert_patches_to("{'a':1}", "[{'op':'move','from':'/a','path':'/a'}]", "{'a':1}");
	assert_patches_to("{'a':{'b':1}}", "[{'op':'move','from':'/a/b','path':'/a'}]", "{'a':1}");
	/* The copy is a copy: changing it leaves the source alone. */
	assert_patches_to("{'a':{'b':1}}",
			  "[{'op':'copy','from':'/a','path':'/c'},"
			  "{'op':'replace','path':'/c/b','value':2}]",
			  "{'a':{'b':1},'c':{'b':2}}");

	assert_patch_fails("{'a':{'b':1}}", "[{'op':'move','from':'/a','path':'/a/b/c'}]", EINVAL,
			   "operation 0 (move /a/b/c): cannot move a value into itself");
	assert_patch_fails("{'a':1}", "[{'op':'move','from':'/x','path':'/y'}]", EINVAL,
			   "operation 0 (move /y): \"from\" not found");
	assert_patch_fails("{'a':1}", "[{'op':'copy','from':'/x','path':'/y'}]", EINVAL,
			   "operation 0 (copy /y): \"from\" not found");
	assert_patch_fails("{'a':1}", "[{'op':'copy','path':'/y'}]", EINVAL,
			   "operation 0 (copy /y): \"from\" is missing or not a string");
}

static void test_test_compares_numbers_by_value(void **state)
{
	(void)state;
	assert_patches_to("{'n':1,'o':{'x':[1.0,2]}}",
			  "[{'op':'test','path':'/n','value':1.0},"
			  "{'op':'test','path':'/o','value':{'x':[1,2.0]}}]",
			  "{'n':1,'o':{'x':[1.0,2]}}");
	assert_patch_fails("{'o':{'x':1,'y':2}}", "[{'op':'test','path':'/o','value':{'x':1}}]",
			   EINVAL, "operation 0 (test /o): test failed: the value differs");
	assert_patch_fails("{'o':[1,2]}", "[{'op':'test','path':'/o','value':[2,1]}]", EINVAL,
			   "operation 0 (test /o): test failed: the value differs");
}

static void test_malformed_operations(void **state)
{
	(void)state;
	assert_patch_fails("{}", "{'op':'add'}", EINVAL,
			   "a JSON patch must be a list of operations");
	assert_patch_fails("{}", "[{'op':'add','path':'/a','value':1},7]", EINVAL,
			   "operation 1: not a JSON object");
	assert_patch_fails("{}", "[{'path':'/a'}]", EINVAL,
			   "operation 0: \"op\" is missing or not a string");
	assert_patch_fails("{}", "[{'op':'frobnicate','path':'/a'}]", EINVAL,
			   "operation 0 (frobnicate /a): unknown operation");
	assert_patch_fails("{}", "[{'op':'add','value':1}]", EINVAL,
			   "operation 0 (add): \"path\" is missing or not a string");
	assert_patch_fails("{}", "[{'op':'add','path':'/a'}]", EINVAL,
			   "operation 0 (add /a): \"value\" is missing");
}

static void test_failure_names_the_operation(void **state)
{
	(void)state;
	/* The earlier operations applied to the copy are dropped with it. */
	assert_patch_fails("{'spec':{'y':1}}",
			   "[{'op':'add','path':'/spec/z','value':1},"
			   "{'op':'remove','path':'/spec/y'},"
			   "{'op':'replace','path':'/spec/x','value':2}]",
			   EINVAL, "operation 2 (replace /spec/x): path not found");
}

static void test_limits(void **state)
{
	(void)state;
	_cleanup_json_ json_t *original = parse("{'a':'0123456789012345678901234567890123456789'}");
	_cleanup_json_ json_t *doubling = json_array();
	/* Each copy doubles the list: unbounded, 64 of them would need 2^64 strings. */
	json_array_append_new(doubling, parse("{'op':'add','path':'/l','value':['x']}"));
	for (int i = 0; i < 64; i++)
		json_array_append_new(doubling, parse("{'op':'copy','from':'/l','path':'/l/-'}"));
	json_t *result = NULL;
	struct ck_error err = {0};
	assert_int_equal(json_patch_apply(original, doubling, &result, &err), -E2BIG);
	assert_null(result);
	assert_non_null(strstr(err.message, "copies would add more than"));

	_cleanup_json_ json_t *many = json_array();
	for (int i = 0; i <= JSON_PATCH_MAX_OPERATIONS; i++)
		json_array_append_new(many, parse("{'op':'test','path':'/a','value':1}"));
	assert_int_equal(json_patch_apply(original, many, &result, &err), -E2BIG);
	assert_string_equal(err.message,
			    "a JSON patch may hold at most 10000 operations, not 10001");
	assert_null(result);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc6902_examples),
	    cmocka_unit_test(test_rfc6902_failures),
	    cmocka_unit_test(test_pointers_and_indexes),
	    cmocka_unit_test(test_move_and_copy),
	    cmocka_unit_test(test_test_compares_numbers_by_value),
	    cmocka_unit_test(test_malformed_operations),
	    cmocka_unit_test(test_failure_names_the_operation),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
