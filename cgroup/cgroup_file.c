/* Reading and writing the files of one cgroup, through the cgroup's directory descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/cgroup_internal.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"

/* Messages name the cgroup by its path, which only the kernel still knows here; looked up on
 * failure only. */
static const char *dir_name(int dirfd, char out[PATH_MAX])
{
	return fs_fd_path(dirfd, out) == 0 ? out : "cgroup";
}

/* Both spellings of "the cgroup was removed" become ENOENT, so callers test for one. */
static int file_error(int dirfd, const char *file, const char *step, int code, struct ck_error *err)
{
	char dir[PATH_MAX];
	return ck_error_errno(err, code == ENODEV ? ENOENT : code, "%s/%s: %s",
			      dir_name(dirfd, dir), file, step);
}

int cgroup_read_file(int dirfd, const char *file, char **text, struct ck_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return file_error(dirfd, file, "open", errno, err);
	_cleanup_buf_ struct buf content = {0};
	for (;;) {
		buf_reserve(&content, 4096);
		content.data[content.len] = '\0';
		ssize_t n = read(fd, content.data + content.len, content.cap - content.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return file_error(dirfd, file, "read", errno, err);
		if (n == 0)
			break;
		content.len += (size_t)n;
	}
	*text = buf_steal(&content);
	return 0;
}

int cgroup_write_file(int dirfd, const char *file, const char *value, struct ck_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return file_error(dirfd, file, "open", errno, err);
	size_t len = strlen(value);
	ssize_t n;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		char step[96];
		snprintf(step, sizeof(step), "write \"%s\"", value);
		return file_error(dirfd, file, step, errno, err);
	}
	if ((size_t)n != len)
		return file_error(dirfd, file, "short write", EIO, err);
	return 0;
}

int cgroup_parse_key(const char *text, const char *key, int64_t *value)
{
	size_t key_len = strlen(key);
	const char *line = text;
	while (*line) {
		if (strncmp(line, key, key_len) == 0 && line[key_len] == ' ') {
			char *end;
			errno = 0;
			long long number = strtoll(line + key_len + 1, &end, 10);
			if (errno || end == line + key_len + 1 || (*end != '\n' && *end != '\0'))
				return -EINVAL;
			*value = number;
			return 0;
		}
		const char *next = strchr(line, '\n');
		if (!next)
			break;
		line = next + 1;
	}
	return -ENODATA;
}

int cgroup_read_number(int dirfd, const char *file, const char *key, int64_t *value,
		       struct ck_error *err)
{
	_cleanup_free_ char *text = NULL;
	int rc = cgroup_read_file(dirfd, file, &text, err);
	if (rc < 0)
		return rc;
	if (key) {
		rc = cgroup_parse_key(text, key, value);
		if (rc == -ENODATA)
			return ck_error_set(err, ENODATA, "%s: no \"%s\" line", file, key);
	} else {
		char *end;
		errno = 0;
		*value = strtoll(text, &end, 10);
		rc = errno || end == text || (*end != '\n' && *end != '\0') ? -EINVAL : 0;
	}
	if (rc < 0)
		return ck_error_set(err, EINVAL, "%s: unexpected content \"%.64s\"", file, text);
	return 0;
}
