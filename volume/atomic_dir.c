/* The kubelet's atomic writer layout: see atomic_dir.h. */
#include "volume/atomic_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"

#define DATA_LINK "..data"
#define DATA_LINK_NEW "..data_tmp"

/* The entry's type, asked of the file system where readdir does not say (DT_UNKNOWN). */
static unsigned char entry_type(int dir_fd, const struct dirent *entry)
{
	struct stat st;

	if (entry->d_type != DT_UNKNOWN)
		return entry->d_type;
	if (fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return DT_UNKNOWN;
	return S_ISREG(st.st_mode)   ? DT_REG
	       : S_ISDIR(st.st_mode) ? DT_DIR
	       : S_ISLNK(st.st_mode) ? DT_LNK
				     : DT_UNKNOWN;
}

/* How many regular files lie below `dir_fd` (which it closes), or -1. */
static long count_files(int dir_fd)
{
	DIR *dir = fdopendir(dir_fd);
	struct dirent *entry;
	long count = 0;

	if (!dir) {
		close(dir_fd);
		return -1;
	}
	while (count >= 0 && (entry = readdir(dir))) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		unsigned char type = entry_type(dirfd(dir), entry);

		if (type == DT_REG) {
			count++;
		} else if (type == DT_DIR) {
			int sub = openat(dirfd(dir), entry->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			long below = sub < 0 ? -1 : count_files(sub);
			count = below < 0 ? -1 : count + below;
		} else {
			count = -1;
		}
	}
	closedir(dir);
	return count;
}

static bool file_matches(int data_fd, const struct payload_file *file)
{
	_cleanup_close_ int fd = openat(data_fd, file->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char chunk[4096];
	size_t at = 0;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size != file->data.len || (int)(st.st_mode & 07777) != file->mode)
		return false;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0)
			return false;
		if (n == 0)
			return at == file->data.len;
		if (at + (size_t)n > file->data.len || memcmp(file->data.data + at, chunk, n) != 0)
			return false;
		at += (size_t)n;
	}
}

static bool shows_payload(int dir_fd, const struct payload *payload)
{
	int data_fd = openat(dir_fd, DATA_LINK, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool same;

	if (data_fd < 0)
		return false;
	same = true;
	for (size_t i = 0; same && i < payload->count; i++)
		same = file_matches(data_fd, &payload->files[i]);
	if (same) {
		int again = dup(data_fd);
		same = again >= 0 && count_files(again) == (long)payload->count;
	}
	close(data_fd);
	return same;
}

/* Creates the directories on the way to `path` inside `base_fd`. */
static int make_parents(int base_fd, const char *path, struct ck_error *err)
{
	char prefix[PATH_MAX];

	snprintf(prefix, sizeof(prefix), "%s", path);
	for (char *slash = strchr(prefix, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdirat(base_fd, prefix, 0755) < 0 && errno != EEXIST)
			return ck_error_errno(err, errno, "create directory %s", prefix);
		*slash = '/';
	}
	return 0;
}

static int write_files(int dir_fd, const char *name, const struct payload *payload,
		       struct ck_error *err)
{
	_cleanup_close_ int base_fd = -1;

	if (mkdirat(dir_fd, name, 0755) < 0)
		return ck_error_errno(err, errno, "create %s", name);
	base_fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (base_fd < 0)
		return ck_error_errno(err, errno, "open %s", name);
	for (size_t i = 0; i < payload->count; i++) {
		const struct payload_file *file = &payload->files[i];
		_cleanup_close_ int fd = -1;
		int r = make_parents(base_fd, file->path, err);

		if (r < 0)
			return r;
		fd = openat(base_fd, file->path,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return ck_error_errno(err, errno, "create %s", file->path);
		for (size_t at = 0; at < file->data.len;) {
			ssize_t n = write(fd, file->data.data + at, file->data.len - at);
			if (n < 0)
				return ck_error_errno(err, errno, "write %s", file->path);
			at += (size_t)n;
		}
		if (fchmod(fd, (mode_t)file->mode) < 0)
			return ck_error_errno(err, errno, "chmod %s", file->path);
	}
	return 0;
}

/* The top-level name of a payload path ("a" of "a/b"), into `out`. */
static const char *top_name(const char *path, char out[NAME_MAX + 1])
{
	size_t len = strcspn(path, "/");

	if (len > NAME_MAX)
		len = NAME_MAX;
	memcpy(out, path, len);
	out[len] = '\0';
	return out;
}

static bool in_payload(const struct payload *payload, const char *name)
{
	char top[NAME_MAX + 1];

	for (size_t i = 0; i < payload->count; i++)
		if (strcmp(top_name(payload->files[i].path, top), name) == 0)
			return true;
	return false;
}

/* Each top-level name a symlink through ..data; names no longer shown removed. */
static int link_names(int dir_fd, const struct payload *payload, struct ck_error *err)
{
	struct dirent *entry;
	DIR *dir;
	int fd, r = 0;

	for (size_t i = 0; i < payload->count; i++) {
		char top[NAME_MAX + 1], target[NAME_MAX + 16];

		top_name(payload->files[i].path, top);
		snprintf(target, sizeof(target), DATA_LINK "/%s", top);
		if (symlinkat(target, dir_fd, top) < 0 && errno != EEXIST)
			return ck_error_errno(err, errno, "link %s", top);
	}
	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return ck_error_errno(err, errno, "list the volume");
	}
	while (r == 0 && (entry = readdir(dir))) {
		if (strncmp(entry->d_name, "..", 2) == 0 || strcmp(entry->d_name, ".") == 0 ||
		    entry_type(dirfd(dir), entry) != DT_LNK || in_payload(payload, entry->d_name))
			continue;
		if (unlinkat(dir_fd, entry->d_name, 0) < 0)
			r = ck_error_errno(err, errno, "remove %s", entry->d_name);
	}
	closedir(dir);
	return r;
}

int atomic_dir_write(const char *dir, const struct payload *payload, bool *changed,
		     struct ck_error *err)
{
	_cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char name[64], old[NAME_MAX + 1];
	struct timespec now;
	struct tm tm;
	ssize_t old_len;
	int r;

	if (changed)
		*changed = false;
	if (dir_fd < 0)
		return ck_error_errno(err, errno, "open %s", dir);
	if (shows_payload(dir_fd, payload))
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(name, sizeof(name), "..%04d_%02d_%02d_%02d_%02d_%02d.%09ld", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec);
	r = write_files(dir_fd, name, payload, err);
	if (r < 0) {
		fs_remove_tree(dir_fd, name, NULL);
		return ck_error_prefix(err, "%s", dir);
	}
	old_len = readlinkat(dir_fd, DATA_LINK, old, sizeof(old) - 1);
	old[old_len > 0 ? old_len : 0] = '\0';
	unlinkat(dir_fd, DATA_LINK_NEW, 0);
	if (symlinkat(name, dir_fd, DATA_LINK_NEW) < 0 ||
	    renameat(dir_fd, DATA_LINK_NEW, dir_fd, DATA_LINK) < 0) {
		r = ck_error_errno(err, errno, "%s: switch " DATA_LINK, dir);
		fs_remove_tree(dir_fd, name, NULL);
		return r;
	}
	if (changed)
		*changed = true;
	r = link_names(dir_fd, payload, err);
	if (r < 0)
		return ck_error_prefix(err, "%s", dir);
	if (*old && strncmp(old, "..", 2) == 0 && strchr(old, '/') == NULL)
		return fs_remove_tree(dir_fd, old, err);
	return 0;
}
