/* Resource quantities: Kubernetes' parsing, rounding and messages, and the printed forms. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/quantity.h"

#define FORMAT_ERROR                                    \
	"quantities must match the regular expression " \
	"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define SUFFIX_ERROR "unable to parse quantity's suffix"

static void assert_quantity(const char *text, int64_t milli, int64_t value)
{
	struct quantity q = {-7, -7};
	struct ck_error err = {0};
	if (quantity_parse(text, &q, &err) < 0)
		fail_msg("\"%s\" refused: %s", text, err.message);
	if (q.milli != milli || q.value != value)
		fail_msg("\"%s\": milli %lld value %lld, want %lld %lld", text, (long long)q.milli,
			 (long long)q.value, (long long)milli, (long long)value);
}

static void assert_refused(const char *text, const char *message)
{
	struct quantity q = {-7, -7};
	struct ck_error err = {0};
	assert_int_equal(quantity_parse(text, &q, &err), -EINVAL);
	assert_string_equal(err.message, message);
	assert_true(q.milli == -7 && q.value == -7);
}

static void test_decimal_suffixes(void **state)
{
	(void)state;
	assert_quantity("0", 0, 0);
	assert_quantity("1", 1000, 1);
	assert_quantity("250m", 250, 1);
	assert_quantity("100m", 100, 1);
	assert_quantity("1500m", 1500, 2);
	assert_quantity("1.5", 1500, 2);
	assert_quantity("0.1", 100, 1);
	assert_quantity("2k", 2000000, 2000);
	assert_quantity("1M", 1000000000, 1000000);
	assert_quantity("1G", 1000000000000, 1000000000);
	assert_quantity("1T", 1000000000000000, 1000000000000);
	assert_quantity("1P", 1000000000000000000, 1000000000000000);
	assert_quantity("1E", INT64_MAX, 1000000000000000000);
	assert_quantity("1u", 1, 1);
	assert_quantity("1n", 1, 1);
	assert_quantity("999999999n", 1000, 1);
	assert_quantity("1000000n", 1, 1);
	assert_quantity("1500000u", 1500, 2);
}

static void test_binary_suffixes(void **state)
{
	(void)state;
	assert_quantity("1Ki", 1024000, 1024);
	assert_quantity("64Mi", 67108864000, 67108864);
	assert_quantity("1Gi", 1073741824000, 1073741824);
	assert_quantity("1.5Gi", 1610612736000, 1610612736);
	assert_quantity(".5Ki", 512000, 512);
	assert_quantity("1.0001Ki", 1024103, 1025);
	assert_quantity("1Ti", 1099511627776000, 1099511627776);
	assert_quantity("1Pi", 1125899906842624000, 1125899906842624);
	assert_quantity("1Ei", INT64_MAX, 1152921504606846976);
	assert_quantity("7Ei", INT64_MAX, 8070450532247928832);
	assert_quantity("8Ei", INT64_MAX, INT64_MAX);
	assert_quantity("-8Ei", INT64_MIN, INT64_MIN);
	/* Long fractions are exact: 0.4999...9 KiB is just under 512 bytes. */
	assert_quantity("0.49999999999999999999999999999999Ki", 512000, 512);
	assert_quantity("0.000000000000000000000000000001Ki", 1, 1);
}

static void test_exponents(void **state)
{
	(void)state;
	assert_quantity("1e3", 1000000, 1000);
	assert_quantity("1E3", 1000000, 1000);
	assert_quantity("1e-3", 1, 1);
	assert_quantity("1.5e1", 15000, 15);
	assert_quantity("1e+2", 100000, 100);
	assert_quantity("5e-07", 1, 1);
	assert_quantity("1e0", 1000, 1);
	assert_quantity("12e-1", 1200, 2);
	assert_quantity("1e18", INT64_MAX, 1000000000000000000);
	assert_quantity("1e19", INT64_MAX, INT64_MAX);
	assert_quantity("1e1000", INT64_MAX, INT64_MAX);
	assert_quantity("1e-1000", 1, 1);
	assert_quantity("-1e-1000", -1, -1);
	/* Go would cut this exponent to 32 bits and read 1e0; it is taken at its value here. */
	assert_quantity("1e4294967296", INT64_MAX, INT64_MAX);
	assert_quantity("1e-9223372036854775808", 1, 1);
	assert_quantity("0e99999", 0, 0);
}

static void test_signs_and_rounding(void **state)
{
	(void)state;
	assert_quantity("+1", 1000, 1);
	assert_quantity("-1", -1000, -1);
	assert_quantity("-1.5", -1500, -2); /* away from zero, as Kubernetes rounds */
	assert_quantity("-250m", -250, -1);
	assert_quantity("-1n", -1, -1);
	assert_quantity("-0", 0, 0);
	assert_quantity("01", 1000, 1);
	assert_quantity("00.5", 500, 1);
	assert_quantity("1.", 1000, 1);
	assert_quantity("0.0001", 1, 1);
	assert_quantity("9223372036854775807", INT64_MAX, INT64_MAX);
	assert_quantity("9223372036854775808", INT64_MAX, INT64_MAX);
	assert_quantity("-9223372036854775808", INT64_MIN, INT64_MIN);
	assert_quantity("-9223372036854775809", INT64_MIN, INT64_MIN);
	assert_quantity("9223372036854775.807", INT64_MAX, 9223372036854776);
	assert_quantity("123456789012345678901234567890", INT64_MAX, INT64_MAX);
}

static void test_what_kubernetes_reads_as_zero(void **state)
{
	(void)state;
	static const char *const zeros[] = {"-",    "+",     ".",   "-.",  "m", "Ki",
					    "-.Mi", "0.000", "000", "0Gi", "e5"};
	for (size_t i = 0; i < sizeof(zeros) / sizeof(zeros[0]); i++)
		assert_quantity(zeros[i], 0, 0);
}

static void test_refused(void **state)
{
	(void)state;
	static const char *const format[] = {"",     " 1",    "1 ",    "1.1.M", "1+1.0M",
					     "aoeu", "0.1am", "1KiB",  "1e+-2", "1.2.3",
					     "1,5",  "0x10",  "1_000", "\t",    "1\n"};
	for (size_t i = 0; i < sizeof(format) / sizeof(format[0]); i++)
		assert_refused(format[i], FORMAT_ERROR);
	static const char *const suffix[] = {"0.1mi",
					     ".5i",
					     "1i",
					     "-3.01i",
					     "-3.01e-",
					     "1e",
					     "1ee2",
					     "1Kii",
					     "1k1",
					     "1mm",
					     "--1",
					     "1Mi2",
					     "1e99999999999999999999"};
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
		assert_refused(suffix[i], SUFFIX_ERROR);
}

static void test_long_inputs(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf text = {0};
	buf_puts(&text, "0.");
	for (int i = 0; i < 100000; i++)
		buf_putc(&text, '0');
	buf_puts(&text, "1Ei");
	assert_quantity(text.data, 1, 1);

	buf_reset(&text);
	for (int i = 0; i < 100000; i++)
		buf_putc(&text, '3');
	assert_quantity(text.data, INT64_MAX, INT64_MAX);
	buf_puts(&text, "e-99990");
	assert_quantity(text.data, 3333333333334, 3333333334);

	buf_reset(&text);
	buf_puts(&text, "0.");
	for (int i = 0; i < 100000; i++)
		buf_putc(&text, '9');
	buf_puts(&text, "Ei");
	assert_quantity(text.data, INT64_MAX, 1152921504606846976);
}

static json_t *json_of(const char *text)
{
	json_t *value = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	assert_non_null(value);
	return value;
}

static void assert_json_quantity(const char *json_text, int64_t milli, int64_t value)
{
	json_t *json = json_of(json_text);
	struct quantity q;
	struct ck_error err = {0};
	if (quantity_from_json(json, &q, &err) < 0)
		fail_msg("%s refused: %s", json_text, err.message);
	json_decref(json);
	assert_true(q.milli == milli);
	assert_true(q.value == value);
}

static void test_from_json(void **state)
{
	(void)state;
	assert_json_quantity("null", 0, 0);
	assert_json_quantity("5", 5000, 5);
	assert_json_quantity("-3", -3000, -3);
	assert_json_quantity("0.5", 500, 1);
	assert_json_quantity("0.1", 100, 1);
	assert_json_quantity("-2.5", -2500, -3);
	assert_json_quantity("1.5e-7", 1, 1);
	assert_json_quantity("1e20", INT64_MAX, INT64_MAX);
	assert_json_quantity("\"100m\"", 100, 1);
	assert_json_quantity("\" \\t1Gi\\n \"", 1073741824000, 1073741824);

	static const char *const bad[] = {"true",   "{}",           "[]",      "\"\"",
					  "\"  \"", "\"1\\u0000\"", "\"1 Gi\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *json = json_of(bad[i]);
		struct quantity q;
		struct ck_error err = {0};
		assert_int_equal(quantity_from_json(json, &q, &err), -EINVAL);
		assert_string_equal(err.message, FORMAT_ERROR);
		json_decref(json);
	}
}

static void test_format_cpu(void **state)
{
	(void)state;
	static const struct {
		int64_t millicores;
		const char *text;
	} cases[] = {
	    {0, "0"},
	    {1, "1m"},
	    {10, "10m"},
	    {250, "250m"},
	    {1000, "1"},
	    {1500, "1500m"},
	    {2000, "2"},
	    {100000, "100"},
	    {1000000, "1k"},
	    {10000000, "10k"},
	    {12345, "12345m"},
	    {-500, "-500m"},
	    {-2000, "-2"},
	    {1000000000000000000, "1P"},
	    {INT64_MAX, "9223372036854775807m"},
	    {INT64_MIN, "-9223372036854775808m"},
	};
	char text[QUANTITY_TEXT_SIZE];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(quantity_format_cpu(cases[i].millicores, text), cases[i].text);
}

static void test_format_memory(void **state)
{
	(void)state;
	static const struct {
		int64_t bytes;
		const char *text;
	} cases[] = {
	    {0, "0"},
	    {1000, "1000"},
	    {1023, "1023"},
	    {1024, "1Ki"},
	    {1536 * 1024, "1536Ki"},
	    {64 * 1024 * 1024, "64Mi"},
	    {1024 * 1024 * 1024, "1Gi"},
	    {1536LL * 1024 * 1024, "1536Mi"},
	    {1LL << 60, "1Ei"},
	    {1LL << 62, "4Ei"},
	    {-1024, "-1Ki"},
	    {INT64_MAX, "9223372036854775807"},
	    {INT64_MIN, "-8Ei"},
	};
	char text[QUANTITY_TEXT_SIZE];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(quantity_format_memory(cases[i].bytes, text), cases[i].text);
}

static void test_format_top(void **state)
{
	(void)state;
	char text[QUANTITY_TEXT_SIZE];
	assert_string_equal(quantity_format_top_cpu(250, text), "250m");
	assert_string_equal(quantity_format_top_cpu(0, text), "0m");
	assert_string_equal(quantity_format_top_cpu(4000, text), "4000m");
	assert_string_equal(quantity_format_top_memory(64 * 1024 * 1024, text), "64Mi");
	assert_string_equal(quantity_format_top_memory(64 * 1024 * 1024 - 1, text), "63Mi");
	assert_string_equal(quantity_format_top_memory(0, text), "0Mi");
	assert_string_equal(quantity_format_top_memory(INT64_MAX, text), "8796093022207Mi");
}

static void test_round_trip(void **state)
{
	(void)state;
	/* What the formatters print, the parser reads back to the same amount. */
	static const int64_t millicores[] = {1, 250, 1000, 1500, 100000, 1000000, 123456789};
	char text[QUANTITY_TEXT_SIZE];
	for (size_t i = 0; i < sizeof(millicores) / sizeof(millicores[0]); i++)
		assert_quantity(quantity_format_cpu(millicores[i], text), millicores[i],
				(millicores[i] + 999) / 1000);
	static const int64_t bytes[] = {1, 1000, 1024, 1536 * 1024, 3LL << 40};
	for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++)
		assert_quantity(quantity_format_memory(bytes[i], text), bytes[i] * 1000, bytes[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decimal_suffixes),
	    cmocka_unit_test(test_binary_suffixes),
	    cmocka_unit_test(test_exponents),
	    cmocka_unit_test(test_signs_and_rounding),
	    cmocka_unit_test(test_what_kubernetes_reads_as_zero),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_long_inputs),
	    cmocka_unit_test(test_from_json),
	    cmocka_unit_test(test_format_cpu),
	    cmocka_unit_test(test_format_memory),
	    cmocka_unit_test(test_format_top),
	    cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
