/* kubectl describe's layout: "Key:\tvalue" lines indented two spaces per level and aligned by
 * a tabwriter (padding 2), plus the sections every describer shares. */
#pragma once

#include <jansson.h>
#include <time.h>

#include "kubectl/tabwriter.h"
#include "lib/buf.h"

struct describer {
	struct tabwriter tabs;
	time_t now; /* ages are relative to this */
};

void describer_init(struct describer *d, time_t now);
/* Writes a formatted line (or part of one) at an indentation level; terminal control
 * characters in values are shown escaped. */
void describer_write(struct describer *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Aligns everything written and appends it to `out`; the describer is done. */
void describer_finish(struct describer *d, struct buf *out);

/* "Labels:\tapp=web\n\ttier=front\n" sorted by key, or "<none>". */
void describe_labels(struct describer *d, const char *title, const json_t *labels);
/* Annotations (without kubectl's last-applied-configuration), long values folded. */
void describe_annotations(struct describer *d, const json_t *annotations);
/* The Events table (oldest first), or "Events:\t<none>". NULL events: nothing. */
void describe_events(struct describer *d, const json_t *event_list);

/* An RFC 3339 timestamp as Go's RFC1123Z; Go's zero time when missing. */
void describe_time(const char *rfc3339, struct buf *out);
/* "a=b,c=d" for a selector map, "<none>" when empty. */
void describe_selector(const json_t *map, struct buf *out);

/* The object's keys in byte order (free() the array), as Go's sort.Strings leaves them. */
const char **sorted_keys(const json_t *object, size_t *count);

/* The array's elements ordered by a string field, stable (free() the result). */
const json_t **sorted_by_field(const json_t *array, const char *field);

/* Small accessors for optional fields. */
const char *field_string(const json_t *object, const char *dotted, const char *fallback);
long long field_integer(const json_t *object, const char *dotted);
/* A value printed as Go's %v prints it: strings as is, numbers, true/false. */
void append_value(struct buf *out, const json_t *value);
