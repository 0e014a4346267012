#include "kubectl/timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* Reads exactly `count` digits. */
static int digits(const char **p, int count, int *value)
{
	*value = 0;
	for (int i = 0; i < count; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -EINVAL;
		*value = *value * 10 + (**p - '0');
	}
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

int time_parse_rfc3339(const char *text, time_t *out)
{
	if (!text)
		return -EINVAL;
	const char *p = text;
	struct tm tm = {0};
	int year, month, day, hour, minute, second;
	if (digits(&p, 4, &year) || expect(&p, '-') || digits(&p, 2, &month) || expect(&p, '-') ||
	    digits(&p, 2, &day))
		return -EINVAL;
	if (*p != 'T' && *p != 't')
		return -EINVAL;
	p++;
	if (digits(&p, 2, &hour) || expect(&p, ':') || digits(&p, 2, &minute) || expect(&p, ':') ||
	    digits(&p, 2, &second))
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, off_hours, off_minutes;
		if (digits(&p, 2, &off_hours) || expect(&p, ':') || digits(&p, 2, &off_minutes))
			return -EINVAL;
		offset = sign * (off_hours * 3600L + off_minutes * 60L);
	} else {
		return -EINVAL;
	}
	if (*p || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
	    second > 60)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	*out = timegm(&tm) - offset;
	return 0;
}

void time_format_rfc1123z(time_t when, struct buf *out)
{
	struct tm local;
	char text[64];
	if (!localtime_r(&when, &local) ||
	    strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S %z", &local) == 0)
		return;
	buf_puts(out, text);
}

void time_format_duration(long long seconds, struct buf *out)
{
	/* A clock a second or two ahead of the server's is "now", not an error. */
	if (seconds < -1) {
		buf_puts(out, "<invalid>");
		return;
	}
	if (seconds < 0)
		seconds = 0;
	if (seconds < 120) {
		buf_printf(out, "%llds", seconds);
		return;
	}
	long long minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;
	if (minutes < 10) {
		if (seconds % 60)
			buf_printf(out, "%lldm%llds", minutes, seconds % 60);
		else
			buf_printf(out, "%lldm", minutes);
	} else if (minutes < 180) {
		buf_printf(out, "%lldm", minutes);
	} else if (hours < 8) {
		if (minutes % 60)
			buf_printf(out, "%lldh%lldm", hours, minutes % 60);
		else
			buf_printf(out, "%lldh", hours);
	} else if (hours < 48) {
		buf_printf(out, "%lldh", hours);
	} else if (hours < 24 * 8) {
		if (hours % 24)
			buf_printf(out, "%lldd%lldh", days, hours % 24);
		else
			buf_printf(out, "%lldd", days);
	} else if (hours < 24 * 365 * 2) {
		buf_printf(out, "%lldd", days);
	} else if (hours < 24 * 365 * 8) {
		if (days % 365)
			buf_printf(out, "%lldy%lldd", days / 365, days % 365);
		else
			buf_printf(out, "%lldy", days / 365);
	} else {
		buf_printf(out, "%lldy", days / 365);
	}
}

void time_format_age(const char *rfc3339, time_t now, struct buf *out)
{
	time_t then;
	if (time_parse_rfc3339(rfc3339, &then) < 0) {
		buf_puts(out, "<unknown>");
		return;
	}
	time_format_duration((long long)(now - then), out);
}
