/* Finding the cgroup2 mount in /proc/self/mountinfo (proc(5)):
 *   36 35 98:0 /root /mount/point rw,noatime master:1 - cgroup2 cgroup2 rw
 * fields: id, parent, device, root of the mount within its file system, mount point, options,
 * optional fields up to "-", then the file system type. Spaces, tabs, newlines and backslashes
 * in paths are written as \ooo octal escapes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup/cgroup_internal.h"
#include "lib/buf.h"
#include "lib/cleanup.h"

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

int cgroup_mount_find(const char *mountinfo, char **mount, struct ck_error *err)
{
	_cleanup_free_ char *found = NULL;
	bool found_whole = false;
	for (const char *line = mountinfo; *line && !found_whole;) {
		size_t line_len = strcspn(line, "\n");
		struct field fields[32];
		size_t count = split_fields(line, line_len, fields, 32);
		size_t separator = 6;
		while (separator < count && !field_is(fields[separator], "-"))
			separator++;
		if (separator + 1 < count && field_is(fields[separator + 1], "cgroup2") &&
		    (!found || field_is(fields[3], "/"))) {
			free(found);
			found = unescape(fields[4].start, fields[4].len);
			found_whole = field_is(fields[3], "/");
		}
		line += line_len + (line[line_len] == '\n');
	}
	if (!found)
		return ck_error_set(err, ENOENT,
				    "/proc/self/mountinfo: no cgroup2 file system is "
				    "mounted");
	*mount = steal_ptr(&found);
	return 0;
}
