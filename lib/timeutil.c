#include "timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

#define NANOS_PER_SECOND 1000000000LL
#define SECONDS_PER_DAY 86400LL

/* Days since 1970-01-01 of a proleptic Gregorian date, and back: computed here rather than by
 * timegm/gmtime_r so that every time_t formats and no time zone setting is consulted. */
static int64_t days_from_civil(int64_t year, unsigned month, unsigned day)
{
	year -= month <= 2;
	int64_t era = (year >= 0 ? year : year - 399) / 400;
	unsigned year_of_era = (unsigned)(year - era * 400);
	unsigned day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
	return era * 146097 + (int64_t)day_of_era - 719468;
}

static void civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned day_of_era = (unsigned)(days - era * 146097);
	unsigned year_of_era =
	    (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	unsigned day_of_year =
	    day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	unsigned shifted_month = (5 * day_of_year + 2) / 153;
	*day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
	*month = shifted_month < 10 ? shifted_month + 3 : shifted_month - 9;
	*year = (int64_t)year_of_era + era * 400 + (*month <= 2);
}

static int format_date_time(time_t seconds, char *out, size_t size)
{
	int64_t days = (int64_t)seconds / SECONDS_PER_DAY;
	int64_t rest = (int64_t)seconds % SECONDS_PER_DAY;
	if (rest < 0) {
		rest += SECONDS_PER_DAY;
		days--;
	}
	int64_t year;
	unsigned month, day;
	civil_from_days(days, &year, &month, &day);
	return snprintf(out, size, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u", year, month, day,
			(unsigned)(rest / 3600), (unsigned)(rest / 60 % 60), (unsigned)(rest % 60));
}

const char *timeutil_format_rfc3339(time_t seconds, char out[TIMEUTIL_TEXT_SIZE])
{
	int used = format_date_time(seconds, out, TIMEUTIL_TEXT_SIZE);
	snprintf(out + used, TIMEUTIL_TEXT_SIZE - (size_t)used, "Z");
	return out;
}

const char *timeutil_format_rfc3339_micro(struct timespec ts, char out[TIMEUTIL_TEXT_SIZE])
{
	int used = format_date_time(ts.tv_sec, out, TIMEUTIL_TEXT_SIZE);
	snprintf(out + used, TIMEUTIL_TEXT_SIZE - (size_t)used, ".%06ldZ", ts.tv_nsec / 1000);
	return out;
}

static bool is_leap_year(int64_t year)
{
	return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

static unsigned days_in_month(int64_t year, unsigned month)
{
	static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* Reads exactly `width` digits at *p; false if any is not a digit. */
static bool read_digits(const char **p, int width, unsigned *value)
{
	*value = 0;
	for (int i = 0; i < width; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		*value = *value * 10 + (unsigned)(c - '0');
	}
	*p += width;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static int time_error(struct ck_error *err, const char *text, const char *problem)
{
	return ck_error_set(err, EINVAL, "parsing time \"%s\" as RFC 3339: %s", text, problem);
}

/* The fraction after the seconds; digits past nanoseconds are dropped, as Go does. */
static void read_fraction(const char **p, long *nanoseconds)
{
	*nanoseconds = 0;
	if ((**p != '.' && **p != ',') || (*p)[1] < '0' || (*p)[1] > '9')
		return;
	(*p)++;
	long scale = NANOS_PER_SECOND;
	for (; **p >= '0' && **p <= '9'; (*p)++) {
		if (scale > 1) {
			scale /= 10;
			*nanoseconds += (**p - '0') * scale;
		}
	}
}

static bool read_zone(const char **p, int64_t *offset_seconds)
{
	*offset_seconds = 0;
	if (expect(p, 'Z'))
		return true;
	int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
	if (!sign)
		return false;
	(*p)++;
	unsigned hours, minutes;
	if (!read_digits(p, 2, &hours) || !expect(p, ':') || !read_digits(p, 2, &minutes))
		return false;
	if (hours > 23 || minutes > 59)
		return false;
	*offset_seconds = sign * (int64_t)(hours * 3600 + minutes * 60);
	return true;
}

int timeutil_parse_rfc3339(const char *text, struct timespec *out, struct ck_error *err)
{
	const char *p = text;
	unsigned year, month, day, hour, minute, second;
	if (!read_digits(&p, 4, &year) || !expect(&p, '-') || !read_digits(&p, 2, &month) ||
	    !expect(&p, '-') || !read_digits(&p, 2, &day) || !expect(&p, 'T') ||
	    !read_digits(&p, 2, &hour) || !expect(&p, ':') || !read_digits(&p, 2, &minute) ||
	    !expect(&p, ':') || !read_digits(&p, 2, &second))
		return time_error(err, text, "want YYYY-MM-DDTHH:MM:SS");
	long nanoseconds;
	read_fraction(&p, &nanoseconds);
	int64_t offset;
	if (!read_zone(&p, &offset))
		return time_error(err, text, "want Z or a zone offset +HH:MM after the time");
	if (*p)
		return time_error(err, text, "extra text after the time");
	if (month < 1 || month > 12)
		return time_error(err, text, "month out of range");
	if (day < 1 || day > days_in_month(year, month))
		return time_error(err, text, "day out of range");
	if (hour > 23)
		return time_error(err, text, "hour out of range");
	if (minute > 59)
		return time_error(err, text, "minute out of range");
	if (second > 59)
		return time_error(err, text, "second out of range");
	int64_t days = days_from_civil(year, month, day);
	out->tv_sec =
	    (time_t)(days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset);
	out->tv_nsec = nanoseconds;
	return 0;
}

const char *timeutil_human_duration(int64_t nanoseconds, char out[TIMEUTIL_TEXT_SIZE])
{
	int64_t seconds = nanoseconds / NANOS_PER_SECOND;
	int64_t minutes = seconds / 60, hours = minutes / 60, days = hours / 24;
	if (seconds < -1)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "<invalid>");
	else if (seconds < 0)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "0s");
	else if (seconds < 60 * 2)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "s", seconds);
	else if (minutes < 10 && seconds % 60 != 0)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "m%" PRId64 "s", minutes,
			 seconds % 60);
	else if (minutes < 60 * 3)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "m", minutes);
	else if (hours < 8 && minutes % 60 != 0)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "h%" PRId64 "m", hours, minutes % 60);
	else if (hours < 48)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "h", hours);
	else if (hours < 24 * 8 && hours % 24 != 0)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "d%" PRId64 "h", days, hours % 24);
	else if (hours < 24 * 365 * 2)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "d", days);
	else if (hours < 24 * 365 * 8 && days % 365 != 0)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "y%" PRId64 "d", days / 365,
			 days % 365);
	else
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "y", days / 365);
	return out;
}

const char *timeutil_short_human_duration(int64_t nanoseconds, char out[TIMEUTIL_TEXT_SIZE])
{
	int64_t seconds = nanoseconds / NANOS_PER_SECOND;
	int64_t minutes = seconds / 60, hours = minutes / 60;
	if (seconds < -1)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "<invalid>");
	else if (seconds < 0)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "0s");
	else if (seconds < 60)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "s", seconds);
	else if (minutes < 60)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "m", minutes);
	else if (hours < 24)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "h", hours);
	else if (hours < 24 * 365)
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "d", hours / 24);
	else
		snprintf(out, TIMEUTIL_TEXT_SIZE, "%" PRId64 "y", hours / 24 / 365);
	return out;
}

/* The time package's own quoting: bytes outside printable ASCII as \xNN. */
static void append_time_quoted(struct buf *out, const char *text, size_t len)
{
	buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c >= 0x80)
			buf_printf(out, "\\x%02x", c);
		else if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", c);
		else
			buf_putc(out, (char)c);
	}
	buf_putc(out, '"');
}

static int duration_error(struct ck_error *err, const char *what, const char *text)
{
	_cleanup_buf_ struct buf quoted = {0};
	append_time_quoted(&quoted, text, strlen(text));
	return ck_error_set(err, EINVAL, "time: %s %s", what, quoted.data);
}

static uint64_t unit_nanoseconds(const char *unit, size_t len)
{
	static const struct {
		const char *name;
		uint64_t nanoseconds;
	} units[] = {
	    {"ns", 1},
	    {"us", 1000},
	    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
	    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
	    {"ms", 1000000},
	    {"s", 1000000000},
	    {"m", 60ull * 1000000000},
	    {"h", 3600ull * 1000000000},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == len && memcmp(units[i].name, unit, len) == 0)
			return units[i].nanoseconds;
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int timeutil_parse_duration(const char *text, int64_t *nanoseconds, struct ck_error *err)
{
	const uint64_t limit = (uint64_t)1 << 63;
	const char *p = text;
	bool negative = false;
	if (*p == '-' || *p == '+')
		negative = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*nanoseconds = 0;
		return 0;
	}
	if (!*p)
		return duration_error(err, "invalid duration", text);

	uint64_t total = 0;
	while (*p) {
		if (*p != '.' && !is_digit(*p))
			return duration_error(err, "invalid duration", text);
		uint64_t whole = 0;
		const char *start = p;
		for (; is_digit(*p); p++) {
			if (whole > limit / 10)
				return duration_error(err, "invalid duration", text);
			whole = whole * 10 + (uint64_t)(*p - '0');
			if (whole > limit)
				return duration_error(err, "invalid duration", text);
		}
		bool has_whole = p > start;
		/* Fraction digits past what a uint64 holds are read and ignored, as in Go. */
		uint64_t fraction = 0;
		double scale = 1;
		bool has_fraction = false;
		if (*p == '.') {
			bool overflow = false;
			for (p++; is_digit(*p); p++) {
				has_fraction = true;
				uint64_t digit = (uint64_t)(*p - '0');
				if (overflow || fraction > (limit - 1) / 10 ||
				    fraction * 10 + digit > limit) {
					overflow = true;
					continue;
				}
				fraction = fraction * 10 + digit;
				scale *= 10;
			}
		}
		if (!has_whole && !has_fraction)
			return duration_error(err, "invalid duration", text);
		const char *unit = p;
		while (*p && *p != '.' && !is_digit(*p))
			p++;
		if (p == unit)
			return duration_error(err, "missing unit in duration", text);
		uint64_t unit_ns = unit_nanoseconds(unit, (size_t)(p - unit));
		if (!unit_ns) {
			_cleanup_buf_ struct buf what = {0};
			buf_puts(&what, "unknown unit ");
			append_time_quoted(&what, unit, (size_t)(p - unit));
			buf_puts(&what, " in duration");
			return duration_error(err, what.data, text);
		}
		if (whole > limit / unit_ns)
			return duration_error(err, "invalid duration", text);
		whole *= unit_ns;
		if (fraction > 0) {
			/* A double carries enough precision for fractions of an hour, Go reasons.
			 */
			whole += (uint64_t)((double)fraction * ((double)unit_ns / scale));
			if (whole > limit)
				return duration_error(err, "invalid duration", text);
		}
		if (whole > limit - total)
			return duration_error(err, "invalid duration", text);
		total += whole;
	}
	if (!negative && total > limit - 1)
		return duration_error(err, "invalid duration", text);
	*nanoseconds = negative ? (int64_t)(0 - total) : (int64_t)total;
	return 0;
}

struct timespec timeutil_after_ms(clockid_t clock, int64_t ms)
{
	struct timespec when;

	clock_gettime(clock, &when);
	when.tv_sec += ms / 1000;
	when.tv_nsec += (long)(ms % 1000) * 1000000;
	if (when.tv_nsec >= 1000000000) {
		when.tv_sec++;
		when.tv_nsec -= 1000000000;
	}
	return when;
}
