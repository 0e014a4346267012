/* /proc/<pid>/mountinfo: see mountinfo.h. */
#include "lib/mountinfo.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

static char *unescape(const char *field, size_t len)
{
	struct buf out = {0};

	for (size_t i = 0; i < len; i++) {
		if (field[i] == '\\' && i + 3 < len && is_octal(field[i + 1]) &&
		    is_octal(field[i + 2]) && is_octal(field[i + 3])) {
			buf_putc(&out, (char)((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
					      (field[i + 3] - '0')));
			i += 3;
		} else {
			buf_putc(&out, field[i]);
		}
	}
	return buf_steal(&out);
}

struct field {
	const char *start;
	size_t len;
};

/* Splits one line into its space-separated fields; returns how many it found (at most `max`). */
static size_t split_fields(const char *line, size_t line_len, struct field *fields, size_t max)
{
	size_t count = 0, at = 0;

	while (at < line_len && count < max) {
		size_t len = 0;
		while (at + len < line_len && line[at + len] != ' ')
			len++;
		fields[count++] = (struct field){line + at, len};
		at += len + 1;
	}
	return count;
}

static bool field_is(struct field f, const char *text)
{
	return f.len == strlen(text) && strncmp(f.start, text, f.len) == 0;
}

void mountinfo_parse(const char *text, struct mountinfo_entry **out, size_t *count)
{
	struct mountinfo_entry *entries = NULL;
	size_t n = 0, room = 0;

	for (const char *line = text; *line;) {
		size_t line_len = strcspn(line, "\n");
		struct field fields[32];
		size_t fields_found = split_fields(line, line_len, fields, 32);
		size_t separator = 6;

		while (separator < fields_found && !field_is(fields[separator], "-"))
			separator++;
		if (separator + 2 < fields_found) {
			if (n == room) {
				room = room ? room * 2 : 64;
				entries = realloc(entries, room * sizeof(*entries));
				if (!entries)
					abort();
			}
			entries[n++] = (struct mountinfo_entry){
			    .id = atoi(fields[0].start),
			    .root = unescape(fields[3].start, fields[3].len),
			    .mount_point = unescape(fields[4].start, fields[4].len),
			    .fs_type =
				unescape(fields[separator + 1].start, fields[separator + 1].len),
			    .source =
				unescape(fields[separator + 2].start, fields[separator + 2].len),
			    /* The optional fields, from the 7th up to the "-". */
			    .propagation =
				unescape(fields[6].start,
					 separator > 6
					     ? (size_t)(fields[separator - 1].start +
							fields[separator - 1].len - fields[6].start)
					     : 0),
			};
		}
		line += line_len + (line[line_len] == '\n');
	}
	*out = entries;
	*count = n;
}

int mountinfo_read_self(struct mountinfo_entry **out, size_t *count, struct ck_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = fs_read_file("/proc/self/mountinfo", &text, &len, err);

	if (r < 0)
		return r;
	mountinfo_parse(text, out, count);
	return 0;
}

void mountinfo_free(struct mountinfo_entry *entries, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(entries[i].root);
		free(entries[i].mount_point);
		free(entries[i].fs_type);
		free(entries[i].source);
		free(entries[i].propagation);
	}
	free(entries);
}
