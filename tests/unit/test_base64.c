/* Base64 as Go's StdEncoding reads and writes it, and the random UUIDs beside it (the two
 * text encodings of lib/ that metadata and Secrets use). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base64.h"
#include "lib/uuid.h"

static const char *const vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
    {"\xfb\xff", "+/8="},
};

static void test_encode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		_cleanup_buf_ struct buf out = {0};
		base64_encode(vectors[i][0], strlen(vectors[i][0]), &out);
		assert_string_equal(out.data ? out.data : "", vectors[i][1]);
	}
	/* It appends. */
	_cleanup_buf_ struct buf out = {0};
	buf_puts(&out, "data: ");
	base64_encode("hi", 2, &out);
	assert_string_equal(out.data, "data: aGk=");
}

static void assert_decodes(const char *text, size_t len, const char *expected, size_t expected_len)
{
	_cleanup_buf_ struct buf out = {0};
	struct ck_error err = {0};
	if (base64_decode(text, len, &out, &err) < 0)
		fail_msg("\"%s\" refused: %s", text, err.message);
	assert_int_equal(out.len, expected_len);
	assert_memory_equal(out.data, expected, expected_len);
}

static void test_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		assert_decodes(vectors[i][1], strlen(vectors[i][1]), vectors[i][0],
			       strlen(vectors[i][0]));
	/* Line breaks are skipped wherever they are, as in PEM and wrapped Secret data. */
	assert_decodes("Zm9v\nYmFy\r\n", 11, "foobar", 6);
	assert_decodes("Zm\n9v", 5, "foo", 3);
	assert_decodes("Zg=\r\n=\n", 7, "f", 1);
	assert_decodes("\n\r\n", 3, "", 0);
	/* Unused low bits of the last character need not be zero. */
	assert_decodes("Zh==", 4, "f", 1);
	assert_decodes("Zm9=", 4, "fo", 2);
	/* Bytes that are not text come through whole. */
	assert_decodes("AAEC/w==", 8, "\x00\x01\x02\xff", 4);
}

static void assert_refused(const char *text, size_t len, size_t offset)
{
	_cleanup_buf_ struct buf out = {0};
	buf_puts(&out, "kept");
	struct ck_error err = {0};
	assert_int_equal(base64_decode(text, len, &out, &err), -EINVAL);
	char expected[64];
	snprintf(expected, sizeof(expected), "illegal base64 data at input byte %zu", offset);
	assert_string_equal(err.message, expected);
	assert_string_equal(out.data, "kept");
	assert_int_equal(out.len, 4);
}

static void test_decode_errors_at_go_offsets(void **state)
{
	(void)state;
	assert_refused("Zg", 2, 0); /* missing padding: the group's start */
	assert_refused("Zm9vYg", 6, 4);
	assert_refused("Zg=", 3, 3);   /* one '=' where two are needed */
	assert_refused("Zg=x", 4, 2);  /* incorrect padding */
	assert_refused("Zg==x", 5, 4); /* text after the padding */
	assert_refused("Zm9vYmE=Zg==", 12, 8);
	assert_refused("Zg==\nZg==", 9, 5);
	assert_refused("Zm9v=", 5, 4); /* padding at a group's start */
	assert_refused("Z===", 4, 1);
	assert_refused("=", 1, 0);
	assert_refused("Zm9v!", 5, 4);
	assert_refused("Zm9v Zm9v", 9, 4); /* spaces are not skipped */
	assert_refused("Zm9v\x80", 5, 4);
	assert_refused("Zm\0v", 4, 2);
	assert_refused("Zm9\n", 4, 1);    /* Go counts from where the group would start */
	assert_refused("Zm9v-_==", 8, 4); /* the URL alphabet is another encoding */
}

static void test_round_trip_and_garbage(void **state)
{
	(void)state;
	uint32_t seed = 99;
	unsigned char data[4099];
	for (size_t len = 0; len < sizeof(data); len += 37) {
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			data[i] = (unsigned char)(seed >> 16);
		}
		_cleanup_buf_ struct buf encoded = {0};
		base64_encode(data, len, &encoded);
		assert_int_equal(encoded.len, (len + 2) / 3 * 4);
		_cleanup_buf_ struct buf decoded = {0};
		assert_int_equal(
		    base64_decode(encoded.data ? encoded.data : "", encoded.len, &decoded, NULL),
		    0);
		assert_int_equal(decoded.len, len);
		if (len)
			assert_memory_equal(decoded.data, data, len);
	}
	/* Random text either decodes or fails cleanly. */
	for (int round = 0; round < 20000; round++) {
		static const char pool[] = "AZaz09+/=\n\r!-_ \x80";
		char text[16];
		size_t len = (size_t)(round % 16);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			text[i] = pool[(seed >> 16) % (sizeof(pool) - 1)];
		}
		_cleanup_buf_ struct buf out = {0};
		struct ck_error err = {0};
		if (base64_decode(text, len, &out, &err) < 0)
			assert_true(
			    strncmp(err.message, "illegal base64 data at input byte ", 34) == 0);
		else
			assert_true(out.len <= len / 4 * 3);
	}
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int compare_uuids(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_uuid_v4(void **state)
{
	(void)state;
	enum { COUNT = 2000 };
	static char uuids[COUNT][UUID_TEXT_SIZE];
	for (size_t n = 0; n < COUNT; n++) {
		char *u = uuids[n];
		assert_int_equal(uuid_generate_v4(u, NULL), 0);
		assert_int_equal(strlen(u), 36);
		for (size_t i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				assert_int_equal(u[i], '-');
			else
				assert_true(is_lower_hex(u[i]));
		}
		assert_int_equal(u[14], '4');           /* version */
		assert_non_null(strchr("89ab", u[19])); /* RFC 4122 variant */
	}
	qsort(uuids, COUNT, UUID_TEXT_SIZE, compare_uuids);
	for (size_t n = 1; n < COUNT; n++)
		assert_string_not_equal(uuids[n - 1], uuids[n]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_decode_errors_at_go_offsets),
	    cmocka_unit_test(test_round_trip_and_garbage),
	    cmocka_unit_test(test_uuid_v4),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
