/* The node's settings file, <config-dir>/agent.yaml, read once when the agent starts. Its
 * fields take the names operators know from the kubelet's KubeletConfiguration and from
 * PodSecurityPolicy:
 *
 *   podPidsLimit: 1024              # pids.max of every pod (default: no limit)
 *   allowedHostPaths:               # hostPath volumes only at or below these prefixes
 *   - pathPrefix: /var/kube-test    # (default: anywhere, as Kubernetes allows)
 *   - pathPrefix: /srv/shared
 *     readOnly: true                # mounted read-only whatever the pod asks
 *
 * A missing file means the defaults; a file that does not parse stops the agent, so that a
 * typo never silently lifts a restriction. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "volume/host_path.h"

struct agent_settings {
	int64_t pod_pids_limit; /* -1: none */
	struct host_path_rule *allowed_host_paths;
	size_t allowed_host_path_count;
};

int agent_settings_load(const char *path, struct agent_settings *out, struct ck_error *err);
void agent_settings_clear(struct agent_settings *settings);
