/* hostPath volumes: the node's own files, checked against the volume's type and against the
 * operator's allow-list before any container sees them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"
#include "volume/volume_spec.h"

/* One allowed prefix, as PodSecurityPolicy's allowedHostPaths wrote them: paths at or below
 * `prefix` (whole components: /data allows /data/x, not /database), read-only when asked. */
struct host_path_rule {
	char *prefix;
	bool read_only;
};

/* No rules: every path is allowed, as Kubernetes allows them. */
struct host_path_policy {
	const struct host_path_rule *rules;
	size_t count;
};

/* Checks that the policy allows `path` as written, then the type of what is there (following
 * symlinks, as the kubelet's check does), creating what DirectoryOrCreate (0755, with missing
 * parents) and FileOrCreate (0644, the parent must exist) ask for. Fails with the kubelet's
 * message ("hostPath type check failed: /x is not a directory"), or -EPERM. */
int host_path_prepare(const struct host_path_policy *policy, const char *path,
		      enum host_path_type type, struct ck_error *err);

/* Opens `path` (O_PATH, following symlinks) for mounting, after checking that both the path as
 * written and where it leads are allowed; *read_only says whether the rule that allows it
 * wants read-only mounts. -EPERM with the reason when the policy forbids it. */
int host_path_open(const struct host_path_policy *policy, const char *path, bool *read_only,
		   struct ck_error *err);

/* Whether `path` (absolute, cleaned of "." and "//") lies at or below `prefix`. */
bool host_path_has_prefix(const char *path, const char *prefix);
