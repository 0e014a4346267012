/* libarchive, opened on first use (see lib/dlopen_util.h): layer and image archive reading.
 * Include this instead of <archive.h> and <archive_entry.h>. */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "lib/cleanup.h"
#include "lib/dlopen_util.h"
#include "lib/error.h"

#define ARCHIVE_SYMBOLS(X)                  \
	X(archive_entry_filetype)           \
	X(archive_entry_gid)                \
	X(archive_entry_hardlink)           \
	X(archive_entry_mtime)              \
	X(archive_entry_mtime_is_set)       \
	X(archive_entry_mtime_nsec)         \
	X(archive_entry_pathname)           \
	X(archive_entry_perm)               \
	X(archive_entry_size)               \
	X(archive_entry_symlink)            \
	X(archive_entry_uid)                \
	X(archive_entry_xattr_next)         \
	X(archive_entry_xattr_reset)        \
	X(archive_errno)                    \
	X(archive_error_string)             \
	X(archive_read_data)                \
	X(archive_read_data_block)          \
	X(archive_read_free)                \
	X(archive_read_new)                 \
	X(archive_read_next_header)         \
	X(archive_read_open)                \
	X(archive_read_open_fd)             \
	X(archive_read_open_filename)       \
	X(archive_read_support_filter_gzip) \
	X(archive_read_support_filter_xz)   \
	X(archive_read_support_filter_zstd) \
	X(archive_read_support_format_raw)  \
	X(archive_read_support_format_tar)  \
	X(archive_set_error)

ARCHIVE_SYMBOLS(DLOPEN_DECLARE)

int dlopen_archive(struct ck_error *err);

/* Fills `err` from libarchive's last error on `a`, as "<step>: <libarchive's text>", and returns
 * the negative errno. Its complaints about the data itself carry no errno: they mean the
 * archive is bad (EINVAL). */
int archive_error(struct ck_error *err, struct archive *a, const char *step);

static inline void archive_read_freep(struct archive **a)
{
	if (*a)
		sym_archive_read_free(*a);
}
#define _cleanup_archive_ _cleanup_(archive_read_freep)
