/* The files a container finds in /etc from the node rather than from its image, written the
 * way the kubelet writes them: /etc/hostname, /etc/hosts (the localhost entries, then the
 * container's own address and name) and /etc/resolv.conf (the node's, unless another is
 * given). Bound into the container; the image's own files stay underneath. */
#pragma once

#include "lib/error.h"
#include "runtime/container.h"

struct etc_files_request {
	const char *hostname;
	const char *ip;          /* the pod's address for its hosts line, or NULL */
	const char *resolv_conf; /* the file to copy, NULL for the node's /etc/resolv.conf */
};

#define ETC_FILES_MAX 3

struct etc_files {
	char *paths[ETC_FILES_MAX];
	struct container_mount mounts[ETC_FILES_MAX];
	size_t count;
};

/* Writes the files in `dir` (created when missing) and fills `out` with their mounts. A node
 * without a resolv.conf gives the container none either. */
int etc_files_write(const char *dir, const struct etc_files_request *request, struct etc_files *out,
		    struct ck_error *err);
void etc_files_clear(struct etc_files *files);

/* The hosts file's text. Caller frees. */
char *etc_hosts_text(const char *hostname, const char *ip);
