/* YAML to JSON with the typing kubectl gives manifests (go-yaml v2 through sigs.k8s.io/yaml):
 * documents, scalar types, anchors and merges, and what hostile input gets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/yaml.h"

static json_t *parse_ok(const char *yaml)
{
	json_t *docs = NULL;
	struct ck_error err = {0};
	if (yaml_parse_documents(yaml, strlen(yaml), &docs, &err) < 0)
		fail_msg("refused: %s\n---\n%s", err.message, yaml);
	assert_true(json_is_array(docs));
	return docs;
}

/* Compares with `expected` JSON, types included: 8 and 8.0 differ. */
static void assert_yaml(const char *yaml, const char *expected)
{
	json_t *docs = parse_ok(yaml);
	json_t *want = json_loads(expected, JSON_DECODE_ANY, NULL);
	if (!want)
		fail_msg("bad expected JSON %s", expected);
	if (!json_equal(docs, want)) {
		_cleanup_free_ char *got = json_dump_compact(docs);
		fail_msg("YAML:\n%s\ngives %s\nwant  %s", yaml, got, expected);
	}
	json_decref(want);
	json_decref(docs);
}

static void assert_refused(const char *yaml, int code, const char *message)
{
	json_t *docs = NULL;
	struct ck_error err = {0};
	assert_int_equal(yaml_parse_documents(yaml, strlen(yaml), &docs, &err), -code);
	assert_null(docs);
	if (strcmp(err.message, message) != 0)
		fail_msg("message \"%s\", want \"%s\"", err.message, message);
}

static void test_multiple_documents(void **state)
{
	(void)state;
	assert_yaml("a: 1\n---\nb: 2\n", "[{\"a\": 1}, {\"b\": 2}]");
	assert_yaml("---\na: 1\n...\n---\nb: 2\n...\n", "[{\"a\": 1}, {\"b\": 2}]");
	assert_yaml("kind: Pod\n---\n- 1\n- 2\n--- text\n",
		    "[{\"kind\": \"Pod\"}, [1, 2], \"text\"]");
	/* JSON is YAML too. */
	assert_yaml("{\"a\": [1, 2.5, \"x\", true, null], \"b\": {}}",
		    "[{\"a\": [1, 2.5, \"x\", true, null], \"b\": {}}]");
}

static void test_empty_documents_skipped(void **state)
{
	(void)state;
	assert_yaml("", "[]");
	assert_yaml("\n\n", "[]");
	assert_yaml("# only a comment\n", "[]");
	assert_yaml("---\n---\na: 1\n---\n# comment\n---\n", "[{\"a\": 1}]");
	/* kubectl also skips documents that are null. */
	assert_yaml("--- ~\n--- null\n---\na: 1\n--- \n", "[{\"a\": 1}]");
	/* A quoted empty string is a value, not an empty document. */
	assert_yaml("--- ''\n", "[\"\"]");
}

static void test_quoted_versus_plain(void **state)
{
	(void)state;
	assert_yaml("port: 80\nname: \"80\"\nother: '80'\n",
		    "[{\"port\": 80, \"name\": \"80\", \"other\": \"80\"}]");
	assert_yaml("a: \"true\"\nb: 'null'\nc: \"1.5\"\nd: \"0x10\"\n",
		    "[{\"a\": \"true\", \"b\": \"null\", \"c\": \"1.5\", \"d\": \"0x10\"}]");
	assert_yaml("a: |\n  line 1\n  line 2\nb: >\n  folded\n  text\n",
		    "[{\"a\": \"line 1\\nline 2\\n\", \"b\": \"folded text\\n\"}]");
	assert_yaml("a: 1 2\nb: 12:30\nc: 2001-12-14\nd: 1.2.3\ne: v1\nf: a-\ng: .\n",
		    "[{\"a\": \"1 2\", \"b\": \"12:30\", \"c\": \"2001-12-14\", \"d\": \"1.2.3\", "
		    "\"e\": \"v1\", \"f\": \"a-\", \"g\": \".\"}]");
}

static void test_booleans(void **state)
{
	(void)state;
	assert_yaml("[yes, Yes, YES, y, Y, on, On, ON, true, True, TRUE]",
		    "[[true, true, true, true, true, true, true, true, true, true, true]]");
	assert_yaml("[no, No, NO, n, N, off, Off, OFF, false, False, FALSE]",
		    "[[false, false, false, false, false, false, false, false, false, false, "
		    "false]]");
	/* Only those spellings. */
	assert_yaml("[yEs, tRUE, oN, 'yes', \"on\", yes please]",
		    "[[\"yEs\", \"tRUE\", \"oN\", \"yes\", \"on\", \"yes please\"]]");
}

static void test_nulls(void **state)
{
	(void)state;
	assert_yaml("a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: nil\ng: nULL\nh: ''\n",
		    "[{\"a\": null, \"b\": null, \"c\": null, \"d\": null, \"e\": null, "
		    "\"f\": \"nil\", \"g\": \"nULL\", \"h\": \"\"}]");
}

static void test_integers(void **state)
{
	(void)state;
	assert_yaml("[0, -0, +42, -42, 1_000, 0x1F, 0X1F, 0o17, 0O17, 017, 0b101, 0B101, -0x10, "
		    "+0o7, -0b11, 0x_1F, 1__0]",
		    "[[0, 0, 42, -42, 1000, 31, 31, 15, 15, 15, 5, 5, -16, 7, -3, 31, 10]]");
	/* Not integers: no digits after the prefix, digits the base does not have. */
	assert_yaml("[0x, 0b, 0o, 0b2, 0xG, 1_, _1, 1e]",
		    "[[\"0x\", \"0b\", \"0o\", \"0b2\", \"0xG\", 1, \"_1\", \"1e\"]]");
}

static void test_large_integers(void **state)
{
	(void)state;
	json_t *docs = parse_ok("[9223372036854775807, -9223372036854775808, 9223372036854775808, "
				"99999999999999999999999, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF]");
	json_t *list = json_array_get(docs, 0);
	assert_true(json_integer_value(json_array_get(list, 0)) == INT64_MAX);
	assert_true(json_integer_value(json_array_get(list, 1)) == INT64_MIN);
	/* Past int64 a number can only be approximate in a JSON double. */
	assert_true(json_is_real(json_array_get(list, 2)));
	assert_true(json_real_value(json_array_get(list, 2)) == 9223372036854775808.0);
	assert_true(json_is_real(json_array_get(list, 3)));
	assert_true(json_real_value(json_array_get(list, 3)) > 9.9e22);
	assert_true(json_integer_value(json_array_get(list, 4)) == INT64_MAX);
	assert_true(json_is_real(json_array_get(list, 5)));
	assert_true(json_real_value(json_array_get(list, 5)) == 18446744073709551615.0);
	json_decref(docs);

	/* A long number keeps all its digits. */
	_cleanup_buf_ struct buf yaml = {0};
	buf_puts(&yaml, "x: 1");
	for (int i = 0; i < 300; i++)
		buf_putc(&yaml, '0');
	buf_puts(&yaml, "\nsmall: 0.");
	for (int i = 0; i < 300; i++)
		buf_putc(&yaml, '0');
	buf_puts(&yaml, "1\n");
	docs = parse_ok(yaml.data);
	json_t *doc = json_array_get(docs, 0);
	assert_true(json_real_value(json_object_get(doc, "x")) == 1e300);
	assert_true(json_real_value(json_object_get(doc, "small")) == 1e-301);
	json_decref(docs);
}

static void test_floats(void **state)
{
	(void)state;
	assert_yaml("[1.5, -0.5, .5, +.5, -.5, 1.5e3, 1.5E-3, 6.02e+23, 1_000.5, 0.1]",
		    "[[1.5, -0.5, 0.5, 0.5, -0.5, 1500, 0.0015, 6.02e23, 1000.5, 0.1]]");
	/* A float with a whole value is what kubectl's JSON writes as a plain integer, and what
	 * Kubernetes then reads into integer fields. */
	assert_yaml("[8080.0, 1e3, 08, 09.0, -2.0, 0.0, 2e18]",
		    "[[8080, 1000, 8, 9, -2, 0, 2000000000000000000]]");
	json_t *docs = parse_ok("[1e300, 1.0e19]");
	json_t *list = json_array_get(docs, 0);
	assert_true(json_is_real(json_array_get(list, 0)));
	assert_true(json_is_real(json_array_get(list, 1)));
	json_decref(docs);
	/* Not floats. */
	assert_yaml("[1.5.1, 1e, e3, .e3, ._5, 1.5e3.0]",
		    "[[\"1.5.1\", \"1e\", \"e3\", \".e3\", \"._5\", \"1.5e3.0\"]]");
}

static void test_infinity_and_nan_refused(void **state)
{
	(void)state;
	static const char *const special[] = {".inf", "-.inf", "+.Inf", ".INF", ".nan", ".NaN"};
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		char yaml[64], message[128];
		snprintf(yaml, sizeof(yaml), "a: 1\nb: %s\n", special[i]);
		snprintf(message, sizeof(message),
			 "document 1, line 2: value %s cannot be represented in JSON", special[i]);
		assert_refused(yaml, EINVAL, message);
	}
	assert_yaml("[inf, nan, '.inf']", "[[\"inf\", \"nan\", \".inf\"]]");
}

static void test_keys_typed_like_kubectl(void **state)
{
	(void)state;
	/* sigs.k8s.io/yaml turns typed keys into their JSON text: the famous "on: push". */
	assert_yaml("on: push\nn: 1\n80: http\n0x10: hex\n1.0: one\n1.5: x\n1000000.0: big\n"
		    "0.00001: small\n100000.0: fixed\n\"yes\": quoted\nx: 1\n",
		    "[{\"true\": \"push\", \"false\": 1, \"80\": \"http\", \"16\": \"hex\", "
		    "\"1\": \"one\", \"1.5\": \"x\", \"1e+06\": \"big\", \"1e-05\": \"small\", "
		    "\"100000\": \"fixed\", \"yes\": \"quoted\", \"x\": 1}]");
	/* A float key past float32's range is written as Go writes infinity. */
	assert_yaml("1e50: big\n-1e50: small\n", "[{\".inf\": \"big\", \"-.inf\": \"small\"}]");
	/* Even the innocent-looking "y" of coordinates. */
	assert_yaml("{x: 1, y: 2}", "[{\"x\": 1, \"true\": 2}]");
	assert_refused("~: a\n", EINVAL, "document 1, line 1: a map key may not be null");
	assert_refused("a: 1\n? [x]\n: 2\n", EINVAL,
		       "document 1, line 2: map keys must be scalars");
	/* Two spellings of one key are a duplicate. */
	assert_refused("on: a\ntrue: b\n", EINVAL,
		       "document 1, line 2: key \"true\" already set in map");
}

static void test_anchors_and_aliases(void **state)
{
	(void)state;
	assert_yaml("a: &x {k: v}\nb: *x\nc: &n 5\nd: *n\ne: [*x, *n]\n",
		    "[{\"a\": {\"k\": \"v\"}, \"b\": {\"k\": \"v\"}, \"c\": 5, \"d\": 5, "
		    "\"e\": [{\"k\": \"v\"}, 5]}]");
	/* Anchors belong to their document. */
	assert_refused("a: &x 1\n---\nb: *x\n", EINVAL,
		       "document 2, line 3: found undefined alias");
}

static void test_merge_keys(void **state)
{
	(void)state;
	const char *bases = "base: &b {x: 1, w: 2}\nmore: &m {w: 20, z: 30}\n";
	char yaml[512];
	snprintf(yaml, sizeof(yaml), "%sobj:\n  <<: *b\n  w: 3\n", bases);
	assert_yaml(yaml, "[{\"base\": {\"x\": 1, \"w\": 2}, \"more\": {\"w\": 20, \"z\": 30}, "
			  "\"obj\": {\"w\": 3, \"x\": 1}}]");
	/* Keys written in the map win wherever the merge is. */
	snprintf(yaml, sizeof(yaml), "%sobj:\n  w: 3\n  <<: *b\n", bases);
	assert_yaml(yaml, "[{\"base\": {\"x\": 1, \"w\": 2}, \"more\": {\"w\": 20, \"z\": 30}, "
			  "\"obj\": {\"w\": 3, \"x\": 1}}]");
	/* Of several merged maps the first listed wins. */
	snprintf(yaml, sizeof(yaml), "%sobj:\n  <<: [*m, *b]\n", bases);
	assert_yaml(yaml, "[{\"base\": {\"x\": 1, \"w\": 2}, \"more\": {\"w\": 20, \"z\": 30}, "
			  "\"obj\": {\"w\": 20, \"z\": 30, \"x\": 1}}]");
	assert_yaml("obj:\n  <<: {a: 1}\n", "[{\"obj\": {\"a\": 1}}]");
	/* A quoted "<<" is an ordinary key. */
	assert_yaml("\"<<\": {a: 1}\n", "[{\"<<\": {\"a\": 1}}]");

	assert_refused("a: &s 1\nb:\n  <<: *s\n", EINVAL,
		       "document 1, line 3: \"<<\" needs a map to merge");
	assert_refused("b:\n  <<: [{a: 1}, [{b: 2}]]\n", EINVAL,
		       "document 1, line 2: \"<<\" needs a map to merge");
}

static void test_duplicate_keys_refused(void **state)
{
	(void)state;
	assert_refused("a: 1\nb: 2\na: 3\n", EINVAL,
		       "document 1, line 3: key \"a\" already set in map");
	assert_refused("x: 1\n---\nspec:\n  containers: []\n  containers: []\n", EINVAL,
		       "document 2, line 5: key \"containers\" already set in map");
	assert_refused("{a: 1, a: 1}", EINVAL, "document 1, line 1: key \"a\" already set in map");
}

static void test_errors_name_document_and_line(void **state)
{
	(void)state;
	assert_refused("a: 1\n---\nb: [1, 2\n", EINVAL,
		       "document 2, line 4: did not find expected ',' or ']'");
	assert_refused("a: b: c\n", EINVAL,
		       "document 1, line 1: mapping values are not allowed in this context");
	assert_refused("a:\n\tb: 1\n", EINVAL,
		       "document 1, line 2: found character that cannot start any token");
	assert_refused("a: 1\n---\n---\nb: *nope\n", EINVAL,
		       "document 3, line 4: found undefined alias");
	assert_refused("a: \"x\\0y\"\n", EINVAL, "document 1, line 1: NUL character in a string");
	assert_refused("\"a\\0b\": 1\n", EINVAL, "document 1, line 1: NUL character in a string");
	/* Bytes that are not UTF-8. */
	json_t *docs = NULL;
	struct ck_error err = {0};
	assert_int_equal(yaml_parse_documents("a: \xff\n", 6, &docs, &err), -EINVAL);
	assert_string_equal(err.message, "line 1: invalid leading UTF-8 octet");
	/* libyaml decodes ahead, so such errors name no document, only the line. */
	assert_int_equal(yaml_parse_documents("a: 1\n---\nb: \xff\n", 14, &docs, &err), -EINVAL);
	assert_string_equal(err.message, "line 3: invalid leading UTF-8 octet");
	/* A NUL byte in the input itself. */
	assert_int_equal(yaml_parse_documents("a: 1\0b: 2\n", 10, &docs, &err), -EINVAL);
}

static void test_alias_bomb_refused(void **state)
{
	(void)state;
	/* Nine levels of nine aliases: 9^9 values from a few hundred bytes. */
	_cleanup_buf_ struct buf yaml = {0};
	buf_puts(&yaml, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (char level = 'b'; level <= 'i'; level++) {
		buf_printf(&yaml, "%c: &%c [", level, level);
		for (int i = 0; i < 9; i++)
			buf_printf(&yaml, "%s*%c", i ? ", " : "", level - 1);
		buf_puts(&yaml, "]\n");
	}
	json_t *docs = NULL;
	struct ck_error err = {0};
	assert_int_equal(yaml_parse_documents(yaml.data, yaml.len, &docs, &err), -E2BIG);
	assert_null(docs);
	assert_true(strstr(err.message, "expand to more than 1000000 values") != NULL);
	assert_true(strncmp(err.message, "document 1, line ", 17) == 0);
}

static void test_deep_nesting_refused(void **state)
{
	(void)state;
	const size_t depth = 100000;
	_cleanup_buf_ struct buf yaml = {0};
	buf_puts(&yaml, "a: ");
	for (size_t i = 0; i < depth; i++)
		buf_putc(&yaml, '[');
	for (size_t i = 0; i < depth; i++)
		buf_putc(&yaml, ']');
	json_t *docs = NULL;
	struct ck_error err = {0};
	assert_int_equal(yaml_parse_documents(yaml.data, yaml.len, &docs, &err), -E2BIG);
	assert_string_equal(err.message, "document 1, line 1: nested deeper than 256 levels");

	/* Through a merge key as well. */
	buf_reset(&yaml);
	buf_puts(&yaml, "<<: ");
	for (size_t i = 0; i < depth; i++)
		buf_putc(&yaml, '[');
	buf_puts(&yaml, "{}");
	for (size_t i = 0; i < depth; i++)
		buf_putc(&yaml, ']');
	assert_true(yaml_parse_documents(yaml.data, yaml.len, &docs, &err) < 0);

	/* An anchor that refers to itself. */
	assert_true(yaml_parse_documents("a: &x [*x]\n", 11, &docs, &err) < 0);
	assert_true(yaml_parse_documents("a: &x {<<: *x}\n", 15, &docs, &err) < 0);

	/* 256 levels are fine. */
	buf_reset(&yaml);
	for (size_t i = 0; i < 256; i++)
		buf_putc(&yaml, '[');
	for (size_t i = 0; i < 256; i++)
		buf_putc(&yaml, ']');
	docs = parse_ok(yaml.data);
	json_decref(docs);
}

static void test_kubernetes_manifest(void **state)
{
	(void)state;
	assert_yaml(
	    "apiVersion: v1\n"
	    "kind: Service\n"
	    "metadata:\n"
	    "  name: web\n"
	    "  labels: {app: web, tier: \"1\"}\n"
	    "spec:\n"
	    "  selector:\n"
	    "    app: web\n"
	    "  ports:\n"
	    "  - name: http\n"
	    "    port: 80\n"
	    "    targetPort: 8080\n"
	    "    protocol: TCP\n"
	    "---\n"
	    "apiVersion: v1\n"
	    "kind: ConfigMap\n"
	    "metadata: {name: cfg}\n"
	    "data:\n"
	    "  enabled: \"yes\"\n"
	    "  config.yaml: |\n"
	    "    key: value\n",
	    "[{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"web\", "
	    "\"labels\": {\"app\": \"web\", \"tier\": \"1\"}}, \"spec\": {\"selector\": "
	    "{\"app\": \"web\"}, \"ports\": [{\"name\": \"http\", \"port\": 80, "
	    "\"targetPort\": 8080, \"protocol\": \"TCP\"}]}},"
	    "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": "
	    "\"cfg\"}, \"data\": {\"enabled\": \"yes\", \"config.yaml\": \"key: value\\n\"}}]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multiple_documents),
	    cmocka_unit_test(test_empty_documents_skipped),
	    cmocka_unit_test(test_quoted_versus_plain),
	    cmocka_unit_test(test_booleans),
	    cmocka_unit_test(test_nulls),
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_large_integers),
	    cmocka_unit_test(test_floats),
	    cmocka_unit_test(test_infinity_and_nan_refused),
	    cmocka_unit_test(test_keys_typed_like_kubectl),
	    cmocka_unit_test(test_anchors_and_aliases),
	    cmocka_unit_test(test_merge_keys),
	    cmocka_unit_test(test_duplicate_keys_refused),
	    cmocka_unit_test(test_errors_name_document_and_line),
	    cmocka_unit_test(test_alias_bomb_refused),
	    cmocka_unit_test(test_deep_nesting_refused),
	    cmocka_unit_test(test_kubernetes_manifest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
