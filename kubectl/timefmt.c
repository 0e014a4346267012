#include "kubectl/timefmt.h"

#include <errno.h>
#include <stdint.h>

#include "lib/timeutil.h"

int time_parse_rfc3339(const char *text, time_t *out)
{
	struct timespec ts;
	if (!text || timeutil_parse_rfc3339(text, &ts, NULL) < 0)
		return -EINVAL;
	*out = ts.tv_sec;
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

void time_format_age(const char *rfc3339, time_t now, struct buf *out)
{
	time_t then;
	char text[TIMEUTIL_TEXT_SIZE];
	if (time_parse_rfc3339(rfc3339, &then) < 0)
		buf_puts(out, "<unknown>");
	else
		buf_puts(out, timeutil_human_duration((int64_t)(now - then) * 1000000000, text));
}
