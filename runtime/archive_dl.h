/* libarchive, opened on first use (see lib/dlopen_util.h): layer and image archive reading.
 * Include this instead of <archive.h> and <archive_entry.h>. */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "lib/dlopen_util.h"

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
