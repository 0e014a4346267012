#include "apiserver/access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"

int access_load_or_create_token(const char *data_dir, char **token, struct ck_error *err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/token", data_dir) < 0)
		return ck_error_set(err, ENOMEM, "token path: out of memory");
	struct ck_error read_err = {0};
	int ret = fs_read_file(path, token, NULL, &read_err);
	if (ret < 0 && ret != -ENOENT) {
		*err = read_err;
		return ret;
	}
	if (ret == 0) {
		(*token)[strcspn(*token, "\r\n")] = '\0';
		if (strlen(*token) >= 32)
			return 0;
		free(*token);
		*token = NULL;
	}
	unsigned char random[24];
	if (getrandom(random, sizeof(random), 0) != sizeof(random))
		return ck_error_errno(err, errno, "generate token");
	char hex[2 * sizeof(random) + 2];
	for (size_t i = 0; i < sizeof(random); i++)
		snprintf(hex + 2 * i, 3, "%02x", random[i]);
	*token = strdup(hex);
	strcat(hex, "\n");
	return fs_write_file_atomic(path, hex, strlen(hex), 0600, err);
}

/* The address clients on this machine use: a wildcard listen address means loopback. */
static void client_address(const char *listen, char *out, size_t len)
{
	if (strncmp(listen, "0.0.0.0:", 8) == 0)
		snprintf(out, len, "127.0.0.1:%s", listen + 8);
	else if (strncmp(listen, "[::]:", 5) == 0)
		snprintf(out, len, "[::1]:%s", listen + 5);
	else
		snprintf(out, len, "%s", listen);
}

/* The host part of "HOST:PORT" or "[HOST]:PORT". */
static void listen_host(const char *listen, char *out, size_t len)
{
	const char *start = listen[0] == '[' ? listen + 1 : listen;
	const char *end = listen[0] == '[' ? strchr(listen, ']') : strrchr(listen, ':');
	size_t n = end ? (size_t)(end - start) : strlen(start);
	snprintf(out, len, "%.*s", (int)n, start);
}

int access_prepare_tls(const char *data_dir, const char *listen, const char *advertise_address,
		       const char *service_ip, struct tls_material *tls, struct ck_error *err)
{
	char host[64], hostname[256] = "";
	listen_host(listen, host, sizeof(host));
	gethostname(hostname, sizeof(hostname) - 1);
	const char *ips[6];
	size_t n = 0;
	ips[n++] = "127.0.0.1";
	ips[n++] = "::1";
	if (strcmp(host, "0.0.0.0") && strcmp(host, "::"))
		ips[n++] = host;
	if (advertise_address && strcmp(advertise_address, host))
		ips[n++] = advertise_address;
	if (service_ip)
		ips[n++] = service_ip;
	ips[n] = NULL;
	const char *names[] = {"localhost",
			       "kubernetes",
			       "kubernetes.default",
			       "kubernetes.default.svc",
			       "kubernetes.default.svc.cluster.local",
			       hostname[0] ? hostname : NULL,
			       NULL};
	return tls_prepare(data_dir, ips, names, tls, err);
}

void access_client_url(const char *listen, bool tls, char *out, size_t len)
{
	char address[128];

	client_address(listen, address, sizeof(address));
	snprintf(out, len, "%s://%s", tls ? "https" : "http", address);
}

int access_write_kubeconfig(const char *config_dir, const char *listen, const char *token,
			    const char *ca_pem, char **path, struct ck_error *err)
{
	char url[160];
	access_client_url(listen, ca_pem != NULL, url, sizeof(url));
	_cleanup_buf_ struct buf text = {0};
	buf_printf(&text,
		   "apiVersion: v1\n"
		   "kind: Config\n"
		   "clusters:\n"
		   "- name: ckube\n"
		   "  cluster:\n"
		   "    server: %s\n",
		   url);
	if (ca_pem) {
		_cleanup_buf_ struct buf ca = {0};
		base64_encode(ca_pem, strlen(ca_pem), &ca);
		buf_printf(&text, "    certificate-authority-data: %s\n", ca.data);
	}
	buf_printf(&text,
		   "contexts:\n"
		   "- name: ckube\n"
		   "  context:\n"
		   "    cluster: ckube\n"
		   "    user: admin\n"
		   "    namespace: default\n"
		   "current-context: ckube\n"
		   "users:\n"
		   "- name: admin\n"
		   "  user:\n"
		   "    token: %s\n",
		   token);
	if (asprintf(path, "%s/admin.kubeconfig", config_dir) < 0)
		return ck_error_set(err, ENOMEM, "kubeconfig: out of memory");
	return fs_write_file_atomic(*path, text.data, text.len, 0600, err);
}
