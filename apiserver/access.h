/* How clients reach `ckube server`: the bearer token, TLS when it listens beyond loopback, and
 * the admin kubeconfig that bundles both for kubectl and the client libraries. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "apiserver/tls.h"
#include "lib/error.h"

/* The token in <data-dir>/token: made at first start, then kept, like a node-join token. */
int access_load_or_create_token(const char *data_dir, char **token, struct ck_error *err);

/* The serving certificate for the API's listen and advertise addresses and the names of the
 * `kubernetes` Service (whose first ClusterIP is `service_ip`). */
int access_prepare_tls(const char *data_dir, const char *listen, const char *advertise_address,
		       const char *service_ip, struct tls_material *tls, struct ck_error *err);

/* The URL clients on this machine use for a server listening on `listen` ("http://127.0.0.1:6443",
 * https when `tls`). */
void access_client_url(const char *listen, bool tls, char *out, size_t len);

/* Writes <config-dir>/admin.kubeconfig for a server listening on `listen`: https with the CA
 * when `ca_pem` is given, else http. `path` receives where it went. */
int access_write_kubeconfig(const char *config_dir, const char *listen, const char *token,
			    const char *ca_pem, char **path, struct ck_error *err);
