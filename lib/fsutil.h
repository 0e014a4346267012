/* Small file-system helpers with error context. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"

/* Reads a whole file into a NUL-terminated buffer; -ENOENT (with the message set) when it does
 * not exist. */
int fs_read_file(const char *path, char **data, size_t *len, struct ck_error *err);
/* Writes through a temporary file and rename, so readers see the old or the new content. */
int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 struct ck_error *err);
/* Creates or truncates and writes, in place: for files nobody reads while they are written. */
int fs_write_file(const char *path, const void *data, size_t len, mode_t mode,
		  struct ck_error *err);
/* The same as fs_write_file_atomic without fsync: readers still see the old or the new content, but
 * a crash may lose the write. For files that do not outlive a boot anyway (the run directory, a
 * tmpfs). */
int fs_replace_file(const char *path, const void *data, size_t len, mode_t mode,
		    struct ck_error *err);
/* Where the descriptor leads now (its /proc/self/fd link), into `out` of PATH_MAX bytes:
 * 0, or -errno. */
int fs_fd_path(int fd, char *out);
/* mkdir -p. */
int fs_mkdir_p(const char *path, mode_t mode, struct ck_error *err);

/* rm -rf of `path` relative to `dirfd` (or AT_FDCWD): symlinks are removed, never followed.
 * Iterative, so a hostile tree as deep as it likes cannot exhaust the stack. 0 when absent. */
int fs_remove_tree(int dirfd, const char *path, struct ck_error *err);
