/* Go's strconv rules: ParseBool, ParseInt, Quote and UTF-8 decoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/strconv.h"

static void test_parse_bool_accepts_go_spellings(void **state)
{
	(void)state;
	static const char *const trues[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const falses[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < 6; i++) {
		bool value = false;
		assert_int_equal(strconv_parse_bool(trues[i], &value, NULL), 0);
		assert_true(value);
		assert_int_equal(strconv_parse_bool(falses[i], &value, NULL), 0);
		assert_false(value);
	}
}

static void test_parse_bool_refuses_the_rest(void **state)
{
	(void)state;
	static const char *const bad[] = {"",      "yes",   "no", "on", "tRUE",  "TRue",
					  " true", "true ", "2",  "-1", "truee", "fals"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ck_error err = {0};
		bool value = true;
		assert_int_equal(strconv_parse_bool(bad[i], &value, &err), -EINVAL);
		assert_int_equal(err.code, EINVAL);
		assert_true(value); /* untouched */
	}
	struct ck_error err = {0};
	bool value;
	strconv_parse_bool("maybe", &value, &err);
	assert_string_equal(err.message, "strconv.ParseBool: parsing \"maybe\": invalid syntax");
}

static void assert_int_parses(const char *text, int64_t expected)
{
	int64_t value = 12345;
	struct ck_error err = {0};
	assert_int_equal(strconv_parse_int(text, INT64_MIN, INT64_MAX, &value, &err), 0);
	assert_true(value == expected);
}

static void assert_int_fails(const char *text, int code, const char *message)
{
	int64_t value = 12345;
	struct ck_error err = {0};
	assert_int_equal(strconv_parse_int(text, INT64_MIN, INT64_MAX, &value, &err), -code);
	assert_string_equal(err.message, message);
	assert_true(value == 12345);
}

static void test_parse_int_decimal(void **state)
{
	(void)state;
	assert_int_parses("0", 0);
	assert_int_parses("-0", 0);
	assert_int_parses("+0", 0);
	assert_int_parses("42", 42);
	assert_int_parses("+42", 42);
	assert_int_parses("-42", -42);
	assert_int_parses("007", 7);
	assert_int_parses("9223372036854775807", INT64_MAX);
	assert_int_parses("-9223372036854775808", INT64_MIN);
}

static void test_parse_int_syntax_errors(void **state)
{
	(void)state;
	assert_int_fails("", EINVAL, "strconv.ParseInt: parsing \"\": invalid syntax");
	assert_int_fails("+", EINVAL, "strconv.ParseInt: parsing \"+\": invalid syntax");
	assert_int_fails("-", EINVAL, "strconv.ParseInt: parsing \"-\": invalid syntax");
	assert_int_fails("1_000", EINVAL, "strconv.ParseInt: parsing \"1_000\": invalid syntax");
	assert_int_fails("0x10", EINVAL, "strconv.ParseInt: parsing \"0x10\": invalid syntax");
	assert_int_fails(" 1", EINVAL, "strconv.ParseInt: parsing \" 1\": invalid syntax");
	assert_int_fails("1 ", EINVAL, "strconv.ParseInt: parsing \"1 \": invalid syntax");
	assert_int_fails("--1", EINVAL, "strconv.ParseInt: parsing \"--1\": invalid syntax");
	assert_int_fails("1e3", EINVAL, "strconv.ParseInt: parsing \"1e3\": invalid syntax");
	assert_int_fails("1.0", EINVAL, "strconv.ParseInt: parsing \"1.0\": invalid syntax");
	assert_int_fails("\xff", EINVAL, "strconv.ParseInt: parsing \"\\xff\": invalid syntax");
}

static void test_parse_int_range_errors(void **state)
{
	(void)state;
	assert_int_fails("9223372036854775808", ERANGE,
			 "strconv.ParseInt: parsing \"9223372036854775808\": value out of range");
	assert_int_fails("-9223372036854775809", ERANGE,
			 "strconv.ParseInt: parsing \"-9223372036854775809\": value out of range");
	assert_int_fails("99999999999999999999999999", ERANGE,
			 "strconv.ParseInt: parsing \"99999999999999999999999999\": value out of "
			 "range");
	/* Go reads a uint64 first: past its range the range error wins over a later bad
	 * character, below it the syntax error does. */
	assert_int_fails("18446744073709551616x", ERANGE,
			 "strconv.ParseInt: parsing \"18446744073709551616x\": value out of range");
	assert_int_fails("9223372036854775808x", EINVAL,
			 "strconv.ParseInt: parsing \"9223372036854775808x\": invalid syntax");
}

static void test_parse_int_custom_range(void **state)
{
	(void)state;
	int64_t value;
	struct ck_error err = {0};
	assert_int_equal(strconv_parse_int("65535", 0, 65535, &value, &err), 0);
	assert_true(value == 65535);
	assert_int_equal(strconv_parse_int("65536", 0, 65535, &value, &err), -ERANGE);
	assert_string_equal(err.message, "strconv.ParseInt: parsing \"65536\": value out of range");
	assert_int_equal(strconv_parse_int("-1", 0, 65535, &value, &err), -ERANGE);
	assert_int_equal(strconv_parse_int("x", 0, 65535, &value, &err), -EINVAL);
}

static void assert_quoted(const char *text, size_t len, const char *expected)
{
	_cleanup_buf_ struct buf out = {0};
	strconv_append_quoted(&out, text, len);
	assert_string_equal(out.data, expected);
}

static void test_quote_like_go(void **state)
{
	(void)state;
	assert_quoted("", 0, "\"\"");
	assert_quoted("web-1", 5, "\"web-1\"");
	assert_quoted("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	assert_quoted("\a\b\f\n\r\t\v", 7, "\"\\a\\b\\f\\n\\r\\t\\v\"");
	assert_quoted("x\0y", 3, "\"x\\x00y\"");
	assert_quoted("\x1b\x7f", 2, "\"\\x1b\\x7f\"");
	assert_quoted("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");           /* printable: kept */
	assert_quoted("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""); /* emoji: kept */
	assert_quoted("\xc2\xa0", 2, "\"\\u00a0\"");                  /* no-break space */
	assert_quoted("\xc2\x85", 2, "\"\\u0085\"");                  /* C1 control */
	assert_quoted("\xe2\x80\xa8", 3, "\"\\u2028\"");              /* line separator */
	assert_quoted("\xef\xbb\xbf", 3, "\"\\ufeff\"");              /* byte order mark */
	assert_quoted("\xf4\x8f\xbf\xbf", 4, "\"\\U0010ffff\"");      /* private use */
	assert_quoted("\xff\xfe", 2, "\"\\xff\\xfe\"");               /* not UTF-8 */
	assert_quoted("\xe2\x82", 2, "\"\\xe2\\x82\"");               /* cut short */
	assert_quoted("\xed\xa0\x80", 3, "\"\\xed\\xa0\\x80\"");      /* a surrogate */
	assert_quoted("\xc0\xaf", 2, "\"\\xc0\\xaf\"");               /* overlong */
}

static void test_utf8_decode(void **state)
{
	(void)state;
	uint32_t rune;
	assert_int_equal(utf8_decode_rune("A", 1, &rune), 1);
	assert_int_equal(rune, 'A');
	assert_int_equal(utf8_decode_rune("\xc3\xa9", 2, &rune), 2);
	assert_int_equal(rune, 0xE9);
	assert_int_equal(utf8_decode_rune("\xe2\x82\xac", 3, &rune), 3);
	assert_int_equal(rune, 0x20AC);
	assert_int_equal(utf8_decode_rune("\xf0\x9f\x98\x80", 4, &rune), 4);
	assert_int_equal(rune, 0x1F600);
	/* Each failure reads one byte as U+FFFD. */
	static const char *const bad[] = {"\x80",
					  "\xc0\x80",
					  "\xc1\xbf",
					  "\xe0\x80\x80",
					  "\xed\xa0\x80",
					  "\xf0\x80\x80\x80",
					  "\xf4\x90\x80\x80",
					  "\xf5\x80\x80\x80",
					  "\xff",
					  "\xc3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(utf8_decode_rune(bad[i], strlen(bad[i]), &rune), 1);
		assert_int_equal(rune, 0xFFFD);
	}
	/* A length that cuts a valid sequence short counts as a failure too. */
	assert_int_equal(utf8_decode_rune("\xe2\x82\xac", 2, &rune), 1);
	assert_int_equal(rune, 0xFFFD);
}

static void test_utf8_append(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf out = {0};
	utf8_append_rune(&out, 'a');
	utf8_append_rune(&out, 0xE9);
	utf8_append_rune(&out, 0x20AC);
	utf8_append_rune(&out, 0x1F600);
	utf8_append_rune(&out, 0xD800);   /* surrogate */
	utf8_append_rune(&out, 0x110000); /* past Unicode */
	assert_string_equal(out.data,
			    "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbd\xef\xbf\xbd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_bool_accepts_go_spellings),
	    cmocka_unit_test(test_parse_bool_refuses_the_rest),
	    cmocka_unit_test(test_parse_int_decimal),
	    cmocka_unit_test(test_parse_int_syntax_errors),
	    cmocka_unit_test(test_parse_int_range_errors),
	    cmocka_unit_test(test_parse_int_custom_range),
	    cmocka_unit_test(test_quote_like_go),
	    cmocka_unit_test(test_utf8_decode),
	    cmocka_unit_test(test_utf8_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
