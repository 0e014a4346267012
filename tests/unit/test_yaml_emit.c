#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/cleanup.h"
#include "lib/yaml.h"

/* Emits `value` and returns the text (caller frees). */
static char *emit_to_string(const json_t *value)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_non_null(out);
	struct ck_error err = {0};
	assert_int_equal(yaml_emit(out, value, &err), 0);
	fclose(out);
	return text;
}

static void assert_emits(const char *json_text, const char *expected_yaml)
{
	json_error_t jerr;
	_cleanup_json_ json_t *value =
	    json_loads(json_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	assert_non_null(value);
	_cleanup_free_ char *yaml = emit_to_string(value);
	assert_string_equal(yaml, expected_yaml);
}

static void pod_looks_like_kubectl_output(void **state)
{
	(void)state;
	assert_emits(
	    "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"nginx\","
	    "\"resourceVersion\":\"174\",\"creationTimestamp\":\"2026-11-25T12:49:55Z\","
	    "\"labels\":{\"app\":\"nginx\"}},\"spec\":{\"containers\":[{\"name\":\"nginx\","
	    "\"image\":\"nginx:1.25\",\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],"
	    "\"resources\":{}}],\"terminationGracePeriodSeconds\":30},\"status\":{\"conditions\":"
	    "[{\"type\":\"Ready\",\"status\":\"True\",\"lastProbeTime\":null}],\"podIPs\":[]}}",
	    "apiVersion: v1\n"
	    "kind: Pod\n"
	    "metadata:\n"
	    "  creationTimestamp: \"2026-11-25T12:49:55Z\"\n"
	    "  labels:\n"
	    "    app: nginx\n"
	    "  name: nginx\n"
	    "  resourceVersion: \"174\"\n"
	    "spec:\n"
	    "  containers:\n"
	    "  - image: nginx:1.25\n"
	    "    name: nginx\n"
	    "    ports:\n"
	    "    - containerPort: 80\n"
	    "      protocol: TCP\n"
	    "    resources: {}\n"
	    "  terminationGracePeriodSeconds: 30\n"
	    "status:\n"
	    "  conditions:\n"
	    "  - lastProbeTime: null\n"
	    "    status: \"True\"\n"
	    "    type: Ready\n"
	    "  podIPs: []\n");
}

static void strings_that_read_as_other_types_are_double_quoted(void **state)
{
	(void)state;
	static const char *const quoted[] = {
	    "",
	    "~",
	    "null",
	    "NULL",
	    "true",
	    "True",
	    "false",
	    "yes",
	    "No",
	    "on",
	    "OFF",
	    "y",
	    "n",
	    "174",
	    "-1",
	    "+1",
	    "0755",
	    "0o17",
	    "0x1F",
	    "0b101",
	    "1_000",
	    "1.0",
	    ".5",
	    "1e3",
	    "-2.5E-3",
	    ".inf",
	    "-.Inf",
	    ".NaN",
	    "1:20",
	    "2024-01-01",
	    "2026-11-25T12:49:55Z",
	    "2026-1-2 10:00:00",
	    "<<",
	    "=",
	};
	for (size_t i = 0; i < sizeof(quoted) / sizeof(quoted[0]); i++) {
		_cleanup_json_ json_t *value = json_string(quoted[i]);
		_cleanup_free_ char *yaml = emit_to_string(value);
		char expected[64];
		snprintf(expected, sizeof(expected), "\"%s\"\n", quoted[i]);
		assert_string_equal(yaml, expected);
	}
}

static void plain_strings_stay_plain(void **state)
{
	(void)state;
	static const char *const plain[] = {
	    "nginx:1.25", "8080:80", "1e",   "v1.32.0", "0x",    "10.244.0.1", "a10",
	    "yesterday",  "100Mi",   "500m", "+",       "héllo", "2024-01",    "12345678-1234",
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		_cleanup_json_ json_t *value = json_string(plain[i]);
		_cleanup_free_ char *yaml = emit_to_string(value);
		char expected[64];
		snprintf(expected, sizeof(expected), "%s\n", plain[i]);
		assert_string_equal(yaml, expected);
	}
}

static void awkward_strings_get_a_safe_style(void **state)
{
	(void)state;
	assert_emits("{\"lead\":\" x\",\"trail\":\"x \",\"colon\":\"a: b\",\"hash\":\"#x\","
		     "\"dash\":\"- a\",\"esc\":\"a\\u001bb\",\"nul\":\"a\\u0000b\","
		     "\"tab\":\"a\\tb\",\"lines\":\"one\\ntwo\\n\",\"spaced\":\"x\\n \"}",
		     "colon: 'a: b'\n"
		     "dash: '- a'\n"
		     "esc: \"a\\eb\"\n"
		     "hash: '#x'\n"
		     "lead: ' x'\n"
		     "lines: |\n"
		     "  one\n"
		     "  two\n"
		     "nul: \"a\\0b\"\n"
		     "spaced: \"x\\n \"\n"
		     "tab: \"a\\tb\"\n"
		     "trail: 'x '\n");
}

static void keys_sort_like_go_yaml(void **state)
{
	(void)state;
	/* digit runs by value, non-letters before letters, quoted keys where needed */
	assert_emits("{\"a10\":1,\"a9\":2,\"xy\":3,\"x_y\":4,\"B\":5,\"b\":6,\"n\":7,\"1\":8,"
		     "\"a01\":9,\"a1\":10}",
		     "\"1\": 8\n"
		     "B: 5\n"
		     "a1: 10\n"
		     "a01: 9\n"
		     "a9: 2\n"
		     "a10: 1\n"
		     "b: 6\n"
		     "\"n\": 7\n"
		     "x_y: 4\n"
		     "xy: 3\n");
}

static void numbers_print_like_go(void **state)
{
	(void)state;
	assert_emits("[0.5, 1000000.0, 123456.0, 0.00001, 2.5e-7, -3, 1.25, 1e21, true, false]",
		     "- 0.5\n"
		     "- 1e+06\n"
		     "- 123456\n"
		     "- 1e-05\n"
		     "- 2.5e-07\n"
		     "- -3\n"
		     "- 1.25\n"
		     "- 1e+21\n"
		     "- true\n"
		     "- false\n");
}

static void long_plain_strings_fold_at_80_columns(void **state)
{
	(void)state;
	assert_emits(
	    "{\"d\":\"aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm "
	    "nnnn oooo pppp qqqq rrrr\"}",
	    "d: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo "
	    "pppp\n"
	    "  qqqq rrrr\n");
}

/* Whatever we write, the project's YAML reader gives back the same JSON. */
static void output_reads_back_as_the_same_value(void **state)
{
	(void)state;
	const char *samples =
	    "{\"s\":[\"\",\"~\",\"yes\",\"0755\",\"1:20\",\"a: b\",\" x \",\"x\\ny\","
	    "\"2024-01-01\",\"-\",\"[a]\",\"{b}\",\"'q'\",\"\\\"d\\\"\",\"%x\",\"@x\",\"`x\","
	    "\"!x\",\"&x\",\"*x\",\"|\",\">\",\"? x\",\"a "
	    "#b\",\"\\u00e9\",\"line\\n\\nend\\n\\n\"],"
	    "\"n\":[0,-7,9007199254740993,0.1,1e300],\"b\":[true,false,null],"
	    "\"nested\":{\"deep\":{\"er\":[[],{},[{}]]}}}";
	json_error_t jerr;
	_cleanup_json_ json_t *value = json_loads(samples, 0, &jerr);
	assert_non_null(value);
	_cleanup_free_ char *yaml = emit_to_string(value);
	_cleanup_json_ json_t *docs = NULL;
	struct ck_error err = {0};
	assert_int_equal(yaml_parse_documents(yaml, strlen(yaml), &docs, &err), 0);
	assert_int_equal(json_array_size(docs), 1);
	assert_true(json_equal(json_array_get(docs, 0), value));
}

static void refuses_no_value_and_runaway_nesting(void **state)
{
	(void)state;
	struct ck_error err = {0};
	FILE *out = fopen("/dev/null", "w");
	assert_non_null(out);
	assert_int_equal(yaml_emit(out, NULL, &err), -EINVAL);
	assert_string_equal(err.message, "no value to write as YAML");

	json_t *root = json_array();
	json_t *inner = root;
	for (int i = 0; i < 600; i++) {
		json_t *next = json_array();
		json_array_append_new(inner, next);
		inner = next;
	}
	assert_int_equal(yaml_emit(out, root, &err), -E2BIG);
	assert_string_equal(err.message, "value nested deeper than 512 levels");
	json_decref(root);
	fclose(out);
}

static void reports_a_failed_write(void **state)
{
	(void)state;
	FILE *full = fopen("/dev/full", "w");
	assert_non_null(full);
	setvbuf(full, NULL, _IONBF, 0);
	_cleanup_json_ json_t *value = json_pack("{s:s}", "a", "b");
	struct ck_error err = {0};
	assert_true(yaml_emit(full, value, &err) < 0);
	assert_non_null(strstr(err.message, "write YAML"));
	fclose(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pod_looks_like_kubectl_output),
	    cmocka_unit_test(strings_that_read_as_other_types_are_double_quoted),
	    cmocka_unit_test(plain_strings_stay_plain),
	    cmocka_unit_test(awkward_strings_get_a_safe_style),
	    cmocka_unit_test(keys_sort_like_go_yaml),
	    cmocka_unit_test(numbers_print_like_go),
	    cmocka_unit_test(long_plain_strings_fold_at_80_columns),
	    cmocka_unit_test(output_reads_back_as_the_same_value),
	    cmocka_unit_test(refuses_no_value_and_runaway_nesting),
	    cmocka_unit_test(reports_a_failed_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
