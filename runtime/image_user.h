/* Who a container's process runs as: the image's USER or the securityContext, resolved in the
 * image's /etc/passwd and /etc/group as runc and containerd do, without mounting anything.
 * The files are read from the topmost image layer that has them (a whiteout, or an opaque
 * directory in a higher layer, hides the lower ones), or from a root filesystem directory, and
 * every path is resolved inside its layer (openat2 with RESOLVE_IN_ROOT), so a hostile image
 * cannot point them at the host's files. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

struct user_request {
	const char *image_user; /* the image's User: "", "app", "1000", "app:staff", "1000:50" */
	int64_t run_as_user;    /* securityContext.runAsUser, -1 when unset */
	int64_t run_as_group;   /* securityContext.runAsGroup, -1 when unset */
	const int64_t *supplemental_groups; /* the pod's supplementalGroups */
	size_t supplemental_count;
};

struct process_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* additional groups, sorted, without duplicates */
	size_t group_count;
	char *home; /* passwd's home directory, "/" when the user has no entry */
};

/* The rules:
 * - runAsUser replaces the image's USER entirely (its group part too, as containerd resolves a
 *   uid); a uid needs no passwd entry.
 * - A user name must be in passwd: `unable to find user app: no matching entries in passwd
 *   file` otherwise; a group name must be in group (`unable to find group staff: no matching
 *   entries in group file`); both fail with -ENOENT. An empty USER is root. A number is
 *   always an id, never a name (as in runc). USER with more than one ':' is -EINVAL.
 * - The group is runAsGroup, else the group part of USER (without runAsUser), else the passwd
 * entry's group, else 0.
 * - Additional groups (what setgroups() gets, as containerd builds it): the primary group,
 *   the groups in /etc/group that list the user's name (found through the passwd entry, also
 *   for a uid; a group named after the user is left out), then supplementalGroups.
 * - Ids given as numbers (USER, runAsUser, runAsGroup, supplementalGroups) must be in
 *   0-2147483647 (-EINVAL), runc's and Kubernetes' range.
 * Missing passwd or group files are empty files, not errors (numeric users still work).
 * Lines that are comments, lack a name or have ids that are not numbers are skipped; the
 * first matching entry wins. */
int user_resolve_from_text(const char *passwd, const char *group, const struct user_request *req,
			   struct process_user *out, struct ck_error *err);

/* The same over an image: `layers` bottom first (unpacked layer directories), or `rootfs`
 * (a directory) when layer_count is 0. */
int user_resolve(const char *const *layers, size_t layer_count, const char *rootfs,
		 const struct user_request *req, struct process_user *out, struct ck_error *err);
void process_user_clear(struct process_user *user);

/* Reads `path` (absolute, inside the image, no "..") as the container would see it: from the
 * topmost layer that has it, honouring whiteouts (0:0 character devices) and opaque
 * directories (trusted.overlay.opaque "y") in higher layers. A symlink met on the way is
 * followed inside its own layer only (overlayfs would follow it over the merged tree; account
 * files linked across layers are rare), so it never leads out of the image. At most `max`
 * bytes (-EFBIG beyond); -ENOENT when no layer has it; -EINVAL when it is not a regular file
 * (a fifo or device is never opened for reading). *out is NUL-terminated; caller frees. */
int image_read_file(const char *const *layers, size_t layer_count, const char *rootfs,
		    const char *path, size_t max, char **out, size_t *len, struct ck_error *err);
