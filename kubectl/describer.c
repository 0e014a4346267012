#include "kubectl/describer.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kubectl/merge_patch.h"
#include "kubectl/table.h"
#include "kubectl/timefmt.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

/* kubectl folds annotations longer than this onto their own lines, and cuts lines longer. */
#define ANNOTATION_MAX_LEN 140

void describer_init(struct describer *d, time_t now)
{
	tabwriter_init_describe(&d->tabs);
	d->now = now;
}

void describer_write(struct describer *d, int level, const char *fmt, ...)
{
	_cleanup_buf_ struct buf text = {0};
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&text, fmt, ap);
	va_end(ap);
	_cleanup_buf_ struct buf line = {0};
	for (int i = 0; i < level; i++)
		buf_puts(&line, "  ");
	append_escaped(&line, text.data ? text.data : "", text.len);
	tabwriter_write(&d->tabs, line.data);
}

void describer_finish(struct describer *d, struct buf *out)
{
	tabwriter_flush(&d->tabs, out);
	tabwriter_free(&d->tabs);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **sorted_keys(const json_t *object, size_t *count)
{
	size_t n = 0;
	const char **keys = malloc((json_object_size(object) + 1) * sizeof(*keys));
	if (!keys)
		abort();
	const char *key;
	const json_t *value;
	json_object_foreach ((json_t *)object, key, value)
		keys[n++] = key;
	qsort(keys, n, sizeof(*keys), compare_strings);
	*count = n;
	return keys;
}

const json_t **sorted_by_field(const json_t *array, const char *field)
{
	size_t count = json_array_size(array);
	const json_t **sorted = malloc((count + 1) * sizeof(*sorted));
	if (!sorted)
		abort();
	for (size_t i = 0; i < count; i++) {
		const json_t *item = json_array_get(array, i);
		const char *key = field_string(item, field, "");
		size_t j = i;
		for (; j > 0 && strcmp(field_string(sorted[j - 1], field, ""), key) > 0; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = item;
	}
	return sorted;
}

const char *field_string(const json_t *object, const char *dotted, const char *fallback)
{
	const char *value = json_path_string(object, dotted);
	return value ? value : fallback;
}

long long field_integer(const json_t *object, const char *dotted)
{
	return (long long)json_integer_value(json_path(object, dotted));
}

void append_value(struct buf *out, const json_t *value)
{
	if (json_is_string(value)) {
		buf_puts(out, json_string_value(value));
	} else if (json_is_number(value) || json_is_boolean(value)) {
		_cleanup_free_ char *text = json_dump_compact(value);
		buf_puts(out, text);
	}
}

void describe_labels(struct describer *d, const char *title, const json_t *labels)
{
	describer_write(d, 0, "%s:\t", title);
	size_t count;
	_cleanup_free_ const char **keys = sorted_keys(labels, &count);
	if (count == 0)
		describer_write(d, 0, "<none>\n");
	for (size_t i = 0; i < count; i++) {
		_cleanup_buf_ struct buf value = {0};
		append_value(&value, json_object_get(labels, keys[i]));
		describer_write(d, 0, "%s%s=%s\n", i ? "\t" : "", keys[i],
				value.data ? value.data : "");
	}
}

void describe_annotations(struct describer *d, const json_t *annotations)
{
	describer_write(d, 0, "Annotations:\t");
	size_t count, shown = 0;
	_cleanup_free_ const char **keys = sorted_keys(annotations, &count);
	for (size_t i = 0; i < count; i++) {
		if (strcmp(keys[i], LAST_APPLIED_ANNOTATION) == 0)
			continue;
		_cleanup_buf_ struct buf value = {0};
		append_value(&value, json_object_get(annotations, keys[i]));
		if (value.len > 0 && value.data[value.len - 1] == '\n')
			value.data[--value.len] = '\0';
		const char *text = value.data ? value.data : "";
		if (shown++)
			describer_write(d, 0, "\t");
		if (value.len + strlen(keys[i]) + 2 <= ANNOTATION_MAX_LEN && !strchr(text, '\n')) {
			describer_write(d, 0, "%s: %s\n", keys[i], text);
			continue;
		}
		describer_write(d, 0, "%s:\n", keys[i]);
		for (const char *line = text;;) {
			size_t len = strcspn(line, "\n");
			size_t cut = len > ANNOTATION_MAX_LEN - 2 ? ANNOTATION_MAX_LEN - 2 : len;
			describer_write(d, 0, "\t  %.*s%s\n", (int)cut, line,
					cut < len ? "..." : "");
			if (!line[len])
				break;
			line += len + 1;
		}
	}
	if (shown == 0)
		describer_write(d, 0, "<none>\n");
}

void describe_time(const char *rfc3339, struct buf *out)
{
	time_t when;
	if (time_parse_rfc3339(rfc3339, &when) < 0)
		buf_puts(out, "Mon, 01 Jan 0001 00:00:00 +0000");
	else
		time_format_rfc1123z(when, out);
}

void describe_selector(const json_t *map, struct buf *out)
{
	size_t count;
	_cleanup_free_ const char **keys = sorted_keys(map, &count);
	for (size_t i = 0; i < count; i++) {
		buf_printf(out, "%s%s=", i ? "," : "", keys[i]);
		append_value(out, json_object_get(map, keys[i]));
	}
	if (count == 0)
		buf_puts(out, "<none>");
}

static long long event_sort_time(const json_t *event)
{
	time_t when;
	if (time_parse_rfc3339(json_string_value(json_object_get(event, "lastTimestamp")), &when) <
	    0)
		return LLONG_MIN;
	return (long long)when;
}

/* "5s", "2m (x3 over 10m)": how long ago, and how often for repeated events. */
static void event_age(const struct describer *d, const json_t *event, struct buf *out)
{
	_cleanup_buf_ struct buf first = {0};
	const char *event_time = json_string_value(json_object_get(event, "eventTime"));
	time_format_age(event_time && *event_time
			    ? event_time
			    : json_string_value(json_object_get(event, "firstTimestamp")),
			d->now, &first);
	const json_t *series = json_object_get(event, "series");
	long long count = field_integer(event, "count");
	if (json_is_object(series)) {
		time_format_age(json_string_value(json_object_get(series, "lastObservedTime")),
				d->now, out);
		buf_printf(out, " (x%lld over %s)", field_integer(series, "count"), first.data);
	} else if (count > 1) {
		time_format_age(json_string_value(json_object_get(event, "lastTimestamp")), d->now,
				out);
		buf_printf(out, " (x%lld over %s)", count, first.data);
	} else {
		buf_puts(out, first.data);
	}
}

static void trim_space(const char *text, const char **start, int *len)
{
	const char *end = text + strlen(text);
	while (*text && strchr(" \t\r\n\v\f", *text))
		text++;
	while (end > text && strchr(" \t\r\n\v\f", end[-1]))
		end--;
	*start = text;
	*len = (int)(end - text);
}

void describe_events(struct describer *d, const json_t *event_list)
{
	if (!event_list)
		return;
	const json_t *items = json_object_get(event_list, "items");
	size_t count = json_array_size(items);
	if (count == 0) {
		describer_write(d, 0, "Events:\t<none>\n");
		return;
	}
	/* Oldest first; events with equal times keep the server's order. */
	_cleanup_free_ const json_t **events = malloc(count * sizeof(*events));
	if (!events)
		abort();
	for (size_t i = 0; i < count; i++) {
		const json_t *event = json_array_get(items, i);
		size_t j = i;
		for (; j > 0 && event_sort_time(events[j - 1]) > event_sort_time(event); j--)
			events[j] = events[j - 1];
		events[j] = event;
	}
	describer_write(d, 0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
	describer_write(d, 1, "----\t------\t----\t----\t-------\n");
	for (size_t i = 0; i < count; i++) {
		const json_t *e = events[i];
		_cleanup_buf_ struct buf age = {0};
		event_age(d, e, &age);
		const char *source = field_string(e, "source.component", "");
		if (!*source)
			source = field_string(e, "reportingComponent", "");
		const char *message;
		int message_len;
		trim_space(field_string(e, "message", ""), &message, &message_len);
		describer_write(d, 1, "%s\t%s\t%s\t%s\t%.*s\n", field_string(e, "type", ""),
				field_string(e, "reason", ""), age.data, source, message_len,
				message);
	}
}
