#include "lib/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"

int fs_read_file(const char *path, char **data, size_t *len, struct ck_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ck_error_errno(err, errno, "open %s", path);
	struct buf content = {0};
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			buf_free(&content);
			return ck_error_errno(err, saved, "read %s", path);
		}
		if (n == 0)
			break;
		buf_append(&content, chunk, (size_t)n);
	}
	if (len)
		*len = content.len;
	*data = buf_steal(&content);
	return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 struct ck_error *err)
{
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return ck_error_set(err, ENOMEM, "write %s: out of memory", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return ck_error_errno(err, errno, "create %s", tmp);
	int ret = write_all(fd, data, len);
	if (ret == 0 && fchmod(fd, mode) < 0)
		ret = -errno;
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return ck_error_errno(err, -ret, "write %s", path);
	}
	return 0;
}

int fs_mkdir_p(const char *path, mode_t mode, struct ck_error *err)
{
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return ck_error_set(err, ENOMEM, "mkdir %s: out of memory", path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return ck_error_errno(err, errno, "mkdir %s", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return ck_error_errno(err, errno, "mkdir %s", copy);
	return 0;
}
