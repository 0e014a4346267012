/* /proc/<pid>/mountinfo (proc(5)), one entry per mount:
 *   36 35 98:0 /root /mount/point rw,noatime master:1 - cgroup2 cgroup2 rw
 * fields: id, parent, device, root of the mount within its file system, mount point, options,
 * optional fields up to "-", then the file system type and the source. Paths come unescaped
 * (spaces, tabs, newlines and backslashes are written as \ooo octal escapes). */
#pragma once

#include <stddef.h>

#include "lib/error.h"

struct mountinfo_entry {
	int id;            /* the mount's id (statx's stx_mnt_id) */
	char *root;        /* the mount's root within its file system */
	char *mount_point; /* where it is mounted, in the reader's namespace */
	char *fs_type;
	char *source;
	char *propagation; /* the optional fields: "shared:1 master:2", "" for a private mount */
};

/* Parses the file's text; entries in the file's order (a mount after the one it sits on).
 * Lines without the fields are skipped. */
void mountinfo_parse(const char *text, struct mountinfo_entry **out, size_t *count);
/* /proc/self/mountinfo. */
int mountinfo_read_self(struct mountinfo_entry **out, size_t *count, struct ck_error *err);
void mountinfo_free(struct mountinfo_entry *entries, size_t count);
