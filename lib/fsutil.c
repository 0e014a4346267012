#include "lib/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
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

static int write_through_rename(const char *path, const void *data, size_t len, mode_t mode,
				bool durable, struct ck_error *err)
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
	if (ret == 0 && durable && fsync(fd) < 0)
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

int fs_write_file(const char *path, const void *data, size_t len, mode_t mode, struct ck_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int ret;

	if (fd < 0)
		return ck_error_errno(err, errno, "create %s", path);
	ret = write_all(fd, data, len);
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	return ret < 0 ? ck_error_errno(err, -ret, "write %s", path) : 0;
}

int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 struct ck_error *err)
{
	return write_through_rename(path, data, len, mode, true, err);
}

int fs_replace_file(const char *path, const void *data, size_t len, mode_t mode,
		    struct ck_error *err)
{
	return write_through_rename(path, data, len, mode, false, err);
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

/* Unlinks every entry of the directory `fd` it can. Returns 1 with *subdir open on a
 * non-empty subdirectory to empty first, 0 once `fd` is empty. */
static int empty_directory(int fd, int *subdir, struct ck_error *err)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	struct dirent *entry;
	DIR *dir;
	int r = 0;

	if (copy < 0 || !(dir = fdopendir(copy))) {
		r = ck_error_errno(err, errno, "read directory");
		if (copy >= 0)
			close(copy);
		return r;
	}
	/* The copy shares its offset with `fd`, which an earlier pass left at the end. */
	rewinddir(dir);
	while ((errno = 0, entry = readdir(dir))) {
		const char *name = entry->d_name;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR) {
			r = ck_error_errno(err, errno, "remove %s", name);
			break;
		}
		if (unlinkat(fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			continue;
		if (errno != ENOTEMPTY && errno != EEXIST) {
			r = ck_error_errno(err, errno, "remove directory %s", name);
			break;
		}
		*subdir = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = *subdir >= 0 ? 1 : ck_error_errno(err, errno, "open %s", name);
		break;
	}
	if (!entry && errno)
		r = ck_error_errno(err, errno, "read directory");
	closedir(dir);
	return r;
}

int fs_fd_path(int fd, char *out)
{
	char link[64];
	ssize_t len;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, out, PATH_MAX - 1);
	if (len < 0)
		return -errno;
	out[len] = '\0';
	return 0;
}

int fs_remove_tree(int dirfd, const char *path, struct ck_error *err)
{
	_cleanup_close_ int fd = -1;
	size_t depth = 0;

	if (unlinkat(dirfd, path, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return ck_error_errno(err, errno, "remove %s", path);
	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ck_error_errno(err, errno, "open %s", path);
	/* Down into the first non-empty subdirectory, back up through ".." once a directory is
	 * empty: no stack, and the tree is ours alone while it goes. */
	for (;;) {
		int subdir = -1, r = empty_directory(fd, &subdir, err);

		if (r < 0)
			return ck_error_prefix(err, "remove %s", path);
		if (r > 0) {
			close(fd);
			fd = subdir;
			depth++;
			continue;
		}
		if (depth == 0)
			break;
		subdir = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (subdir < 0)
			return ck_error_errno(err, errno, "remove %s: go back up", path);
		close(fd);
		fd = subdir;
		depth--;
	}
	if (unlinkat(dirfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ck_error_errno(err, errno, "remove directory %s", path);
	return 0;
}
