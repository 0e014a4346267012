#include "quantity.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "strconv.h"

#define FORMAT_ERROR                                    \
	"quantities must match the regular expression " \
	"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define SUFFIX_ERROR "unable to parse quantity's suffix"

/* Past this an exponent cannot change the outcome (zero, one, or a clamped value), and
 * keeping it small keeps the arithmetic below from overflowing. */
#define EXPONENT_LIMIT ((int64_t)1 << 40)

/* A quantity's text cut the way Kubernetes cuts it: sign, whole digits (leading zeros
 * dropped), fraction digits and suffix. */
struct quantity_text {
	bool negative;
	const char *whole, *fraction, *suffix;
	size_t whole_len, fraction_len, suffix_len;
};

static size_t count_digits(const char *s)
{
	return strspn(s, "0123456789");
}

static bool split_quantity(const char *text, struct quantity_text *q)
{
	const char *p = text;
	*q = (struct quantity_text){.whole = "", .fraction = "", .suffix = ""};
	if (*p == '+' || *p == '-')
		q->negative = *p++ == '-';
	p += strspn(p, "0");
	q->whole = p;
	q->whole_len = count_digits(p);
	p += q->whole_len;
	if (*p == '.') {
		q->fraction = ++p;
		q->fraction_len = count_digits(p);
		p += q->fraction_len;
	}
	q->suffix = p;
	p += strspn(p, "eEinumkKMGTP");
	if (*p == '+' || *p == '-')
		p++;
	p += count_digits(p);
	q->suffix_len = (size_t)(p - q->suffix);
	return *p == '\0';
}

/* The value of a suffix: 10^exp10 * 2^exp2. */
static bool interpret_suffix(const struct quantity_text *q, int64_t *exp10, unsigned *exp2)
{
	static const struct {
		const char *suffix;
		int exp10;
		unsigned exp2;
	} suffixes[] = {
	    {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},
	    {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},
	    {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
	    {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
	};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (q->suffix_len == strlen(suffixes[i].suffix) &&
		    memcmp(q->suffix, suffixes[i].suffix, q->suffix_len) == 0) {
			*exp10 = suffixes[i].exp10;
			*exp2 = suffixes[i].exp2;
			return true;
		}
	}
	if (q->suffix_len < 2 || (q->suffix[0] != 'e' && q->suffix[0] != 'E'))
		return false;
	_cleanup_free_ char *exponent = strndup(q->suffix + 1, q->suffix_len - 1);
	if (!exponent)
		abort();
	int64_t value;
	if (strconv_parse_int(exponent, INT64_MIN, INT64_MAX, &value, NULL) < 0)
		return false;
	*exp10 = value < -EXPONENT_LIMIT ? -EXPONENT_LIMIT
					 : (value > EXPONENT_LIMIT ? EXPONENT_LIMIT : value);
	*exp2 = 0;
	return true;
}

/* The significant digits of a quantity, multiplied by 2^exp2: one decimal digit value per
 * byte, most significant first. A digit times 2^60 plus the carry stays below 2^64. */
struct product {
	unsigned char *digits;
	size_t len;
};

static struct product multiply_by_power_of_two(const char *digits, size_t len, unsigned exp2)
{
	size_t capacity = len + 20;
	unsigned char *out = malloc(capacity);
	if (!out)
		abort();
	size_t start = capacity;
	uint64_t carry = 0;
	for (size_t i = len; i-- > 0;) {
		uint64_t v = ((uint64_t)(digits[i] - '0') << exp2) + carry;
		out[--start] = (unsigned char)(v % 10);
		carry = v / 10;
	}
	for (; carry; carry /= 10)
		out[--start] = (unsigned char)(carry % 10);
	memmove(out, out + start, capacity - start);
	return (struct product){out, capacity - start};
}

/* |product| * 10^exp10 rounded up to a whole number, clamped to `limit`. */
static uint64_t round_up_scaled(const struct product *p, int64_t exp10, uint64_t limit)
{
	int64_t whole_digits = (int64_t)p->len + exp10;
	if (whole_digits > 20)
		return limit;
	if (whole_digits <= 0)
		return 1; /* a non-zero fraction */
	uint64_t whole = 0;
	for (int64_t i = 0; i < whole_digits; i++) {
		unsigned digit = i < (int64_t)p->len ? p->digits[i] : 0;
		if (whole > (limit - digit) / 10)
			return limit;
		whole = whole * 10 + digit;
	}
	for (size_t i = (size_t)whole_digits; i < p->len; i++)
		if (p->digits[i] != 0)
			return whole == limit ? limit : whole + 1;
	return whole;
}

int quantity_parse(const char *text, struct quantity *out, struct ck_error *err)
{
	struct quantity_text q;
	if (!*text || !split_quantity(text, &q))
		return ck_error_set(err, EINVAL, "%s", FORMAT_ERROR);
	int64_t exp10;
	unsigned exp2;
	if (!interpret_suffix(&q, &exp10, &exp2))
		return ck_error_set(err, EINVAL, "%s", SUFFIX_ERROR);

	/* The significant digits run from the first non-zero one, wherever the point is. */
	_cleanup_free_ char *digits = malloc(q.whole_len + q.fraction_len + 1);
	if (!digits)
		abort();
	memcpy(digits, q.whole, q.whole_len);
	memcpy(digits + q.whole_len, q.fraction, q.fraction_len);
	size_t len = q.whole_len + q.fraction_len;
	size_t zeros = q.whole_len ? 0 : strspn(q.fraction, "0");
	if (zeros == len) {
		*out = (struct quantity){0, 0};
		return 0;
	}
	const char *significant = digits + zeros;
	len -= zeros;
	exp10 -= (int64_t)q.fraction_len;

	/* Clamped values: a magnitude at most 2^63 - 1, or 2^63 when negative. */
	const uint64_t limit = q.negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t value, milli;
	if ((int64_t)len + exp10 > 20) {
		value = milli = limit;
	} else if ((int64_t)len + exp10 + 3 + 20 < 0) {
		value = milli = 1; /* a thousand times it is below 1/10 even with 2^60 */
	} else {
		struct product p = multiply_by_power_of_two(significant, len, exp2);
		value = round_up_scaled(&p, exp10, limit);
		milli = round_up_scaled(&p, exp10 + 3, limit);
		free(p.digits);
	}
	out->value = q.negative ? (int64_t)(0 - value) : (int64_t)value;
	out->milli = q.negative ? (int64_t)(0 - milli) : (int64_t)milli;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int quantity_from_json(const json_t *value, struct quantity *out, struct ck_error *err)
{
	char number[64];
	if (json_is_null(value)) {
		*out = (struct quantity){0, 0};
		return 0;
	}
	if (json_is_integer(value)) {
		snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(value));
		return quantity_parse(number, out, err);
	}
	if (json_is_real(value)) {
		/* The shortest text that reads back as the same double, as the client sent it. */
		double real = json_real_value(value);
		for (int precision = 1; precision <= 17; precision++) {
			snprintf(number, sizeof(number), "%.*g", precision, real);
			if (strtod(number, NULL) == real)
				break;
		}
		return quantity_parse(number, out, err);
	}
	if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value))
		return ck_error_set(err, EINVAL, "%s", FORMAT_ERROR);
	const char *text = json_string_value(value);
	size_t len = json_string_length(value);
	while (len > 0 && is_space(*text))
		text++, len--;
	while (len > 0 && is_space(text[len - 1]))
		len--;
	_cleanup_free_ char *trimmed = strndup(text, len);
	if (!trimmed)
		abort();
	return quantity_parse(trimmed, out, err);
}

const char *quantity_format_cpu(int64_t millicores, char out[QUANTITY_TEXT_SIZE])
{
	static const char *const suffixes[] = {"m", "", "k", "M", "G", "T", "P", "E"};
	if (millicores == 0) {
		snprintf(out, QUANTITY_TEXT_SIZE, "0");
		return out;
	}
	/* Kubernetes moves factors of ten into the exponent, then back until it is a multiple
	 * of three: 1500m stays "1500m", 2000m becomes "2", 10000000m "10k". */
	int64_t mantissa = millicores;
	int tens = 0;
	while (mantissa % 10 == 0) {
		mantissa /= 10;
		tens++;
	}
	for (; tens % 3 != 0; tens--)
		mantissa *= 10;
	snprintf(out, QUANTITY_TEXT_SIZE, "%" PRId64 "%s", mantissa, suffixes[tens / 3]);
	return out;
}

const char *quantity_format_memory(int64_t bytes, char out[QUANTITY_TEXT_SIZE])
{
	static const char *const suffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
	int64_t mantissa = bytes;
	size_t power = 0;
	while (mantissa != 0 && mantissa % 1024 == 0 && power + 1 < 7) {
		mantissa /= 1024;
		power++;
	}
	snprintf(out, QUANTITY_TEXT_SIZE, "%" PRId64 "%s", mantissa, suffixes[power]);
	return out;
}

const char *quantity_format_top_cpu(int64_t millicores, char out[QUANTITY_TEXT_SIZE])
{
	snprintf(out, QUANTITY_TEXT_SIZE, "%" PRId64 "m", millicores);
	return out;
}

const char *quantity_format_top_memory(int64_t bytes, char out[QUANTITY_TEXT_SIZE])
{
	snprintf(out, QUANTITY_TEXT_SIZE, "%" PRId64 "Mi", bytes / (1024 * 1024));
	return out;
}
