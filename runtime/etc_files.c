/* /etc/hostname, /etc/hosts and /etc/resolv.conf for containers: see etc_files.h. */
#include "runtime/etc_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"

char *etc_hosts_text(const char *hostname, const char *ip)
{
	struct buf text = {0};

	/* The kubelet's own header and entries, which tools and people recognize. */
	buf_puts(&text, "# Kubernetes-managed hosts file.\n"
			"127.0.0.1\tlocalhost\n"
			"::1\tlocalhost ip6-localhost ip6-loopback\n"
			"fe00::0\tip6-localnet\n"
			"fe00::0\tip6-mcastprefix\n"
			"fe00::1\tip6-allnodes\n"
			"fe00::2\tip6-allrouters\n");
	if (ip && hostname)
		buf_printf(&text, "%s\t%s\n", ip, hostname);
	return buf_steal(&text);
}

static int add_file(struct etc_files *files, const char *dir, const char *name,
		    const char *destination, const char *text, size_t len, struct ck_error *err)
{
	char *path;
	int r;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	/* Written before the container starts, read only by its mounts: no rename needed. */
	r = fs_write_file(path, text, len, 0644, err);
	if (r < 0) {
		free(path);
		return r;
	}
	files->paths[files->count] = path;
	files->mounts[files->count] =
	    (struct container_mount){.source = path, .destination = destination};
	files->count++;
	return 0;
}

int etc_files_write(const char *dir, const struct etc_files_request *request, struct etc_files *out,
		    struct ck_error *err)
{
	_cleanup_free_ char *hostname = NULL, *hosts = NULL, *resolv = NULL;
	const char *resolv_source =
	    request->resolv_conf ? request->resolv_conf : "/etc/resolv.conf";
	size_t resolv_len = 0;
	int r;

	*out = (struct etc_files){0};
	r = fs_mkdir_p(dir, 0755, err);
	if (r < 0)
		return r;
	if (asprintf(&hostname, "%s\n", request->hostname) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	hosts = etc_hosts_text(request->hostname, request->ip);
	r = add_file(out, dir, "hostname", "/etc/hostname", hostname, strlen(hostname), err);
	if (r == 0)
		r = add_file(out, dir, "hosts", "/etc/hosts", hosts, strlen(hosts), err);
	if (r == 0) {
		r = fs_read_file(resolv_source, &resolv, &resolv_len, err);
		if (r == -ENOENT && !request->resolv_conf)
			return 0;
		if (r == 0)
			r = add_file(out, dir, "resolv.conf", "/etc/resolv.conf", resolv,
				     resolv_len, err);
	}
	if (r < 0)
		etc_files_clear(out);
	return r;
}

void etc_files_clear(struct etc_files *files)
{
	for (size_t i = 0; i < files->count; i++)
		free(files->paths[i]);
	*files = (struct etc_files){0};
}
