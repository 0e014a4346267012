/* Times as kubectl shows them: RFC 1123 dates in describe, short ages ("5m3s") elsewhere. */
#pragma once

#include <time.h>

#include "lib/buf.h"

/* An RFC 3339 timestamp ("2026-11-25T12:49:56Z") to whole seconds; -EINVAL for NULL or
 * anything else. */
int time_parse_rfc3339(const char *text, time_t *out);

/* Go's time.RFC1123Z in the local time zone: "Wed, 25 Nov 2026 12:49:56 +0000". */
void time_format_rfc1123z(time_t when, struct buf *out);

/* The age of an RFC 3339 timestamp at `now` ("8s", "5m3s"), or "<unknown>" when there is
 * none. */
void time_format_age(const char *rfc3339, time_t now, struct buf *out);
