/* The root of ckube's cgroup tree: found on the cgroup2 mount, created with the controllers
 * enabled on the way down, and the account of which limits cannot be enforced there. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/cgroup_internal.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"

/* Says whether the hierarchy lacks the controllers altogether (as on hosts that keep them on
 * cgroup v1) or offers them but could not enable them on the way down (see the log). */
static int describe_missing(int mountfd, const char *mount, unsigned missing, char **out,
			    struct ck_error *err)
{
	_cleanup_free_ char *offered_text = NULL;
	int rc = cgroup_read_file(mountfd, "cgroup.controllers", &offered_text, err);
	if (rc < 0)
		return rc;
	unsigned offered = cgroup_controllers_parse(offered_text);
	struct buf text = {0};
	cgroup_controllers_describe(missing, &text);
	buf_puts(&text, " limits are not enforced: ");
	if (offered & missing) {
		buf_puts(&text, "enabling them in cgroup.subtree_control on the way down failed");
	} else {
		buf_printf(&text, "the cgroup2 hierarchy at %s offers ", mount);
		if (offered) {
			buf_puts(&text, "only ");
			cgroup_controllers_describe(offered, &text);
		} else {
			buf_puts(&text, "no controllers");
		}
	}
	*out = buf_steal(&text);
	return 0;
}

static int open_root(const char *root, struct cgroup_root *out, struct ck_error *err)
{
	_cleanup_free_ char *mountinfo = NULL;
	int rc = fs_read_file("/proc/self/mountinfo", &mountinfo, NULL, err);
	if (rc == 0)
		rc = cgroup_mount_find(mountinfo, &out->mount, err);
	if (rc < 0)
		return rc;
	_cleanup_close_ int mountfd = open(out->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mountfd < 0)
		return ck_error_errno(err, errno, "open %s", out->mount);
	rc = cgroup_mkdir_path(mountfd, root, false, &out->dirfd, err);
	if (rc < 0)
		return rc;
	struct buf path = {0};
	buf_printf(&path, "%s/%s", out->mount, root);
	out->path = buf_steal(&path);
	_cleanup_free_ char *enabled = NULL;
	rc = cgroup_read_file(out->dirfd, "cgroup.subtree_control", &enabled, err);
	if (rc < 0)
		return rc;
	out->available = cgroup_controllers_parse(enabled);
	unsigned missing = CGROUP_ENABLED_CONTROLLERS & ~out->available;
	if (missing)
		return describe_missing(mountfd, out->mount, missing, &out->missing, err);
	return 0;
}

int cgroup_root_open(const char *root, struct cgroup_root *out, struct ck_error *err)
{
	*out = (struct cgroup_root){.dirfd = -1};
	int rc = cgroup_relative_check(root, false, err);
	if (rc == 0)
		rc = open_root(root, out, err);
	if (rc < 0) {
		ck_error_prefix(err, "cgroup root %s", root ? root : "(null)");
		cgroup_root_close(out);
	}
	return rc;
}

void cgroup_root_close(struct cgroup_root *root)
{
	free(root->mount);
	free(root->path);
	free(root->missing);
	if (root->dirfd >= 0)
		close(root->dirfd);
	*root = (struct cgroup_root){.dirfd = -1};
}

const char *cgroup_root_missing(const struct cgroup_root *root)
{
	return root->missing;
}
