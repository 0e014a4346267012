/* Registry settings from <config-dir>/registries.yaml, in the format k3s uses:
 *
 *   mirrors:
 *     docker.io:
 *       endpoint: ["http://127.0.0.1:5000"]
 *   configs:
 *     "127.0.0.1:5000":
 *       auth: {username: u, password: p}      (or auth: base64 of "u:p")
 *       tls: {insecure_skip_verify: true, ca_file: /path, cert_file: /c, key_file: /k}
 *
 * A registry is reached through its mirror endpoints first, then itself over https
 * (registry-1.docker.io for docker.io). Plain http is used only for endpoints written with
 * http://, i.e. configured as insecure. As in k3s, a "*" entry under mirrors or configs applies
 * to every registry without an entry of its own. A config applies to the endpoints on its host
 * (and the default endpoint also takes the config of the registry's own name). Mirror rewrites
 * and identity tokens are not supported: they are ignored with a warning. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

struct registry_endpoint {
	char *url;      /* "https://registry-1.docker.io" or "http://127.0.0.1:5000" */
	char *username; /* basic auth, or NULL */
	char *password;
	char *ca_file;   /* extra CA, or NULL */
	char *cert_file; /* client certificate and key for TLS, or NULL */
	char *key_file;
	bool insecure_tls; /* skip certificate checks */
};

/* A deep copy of `endpoint` with `url` as its URL, into `out`; -ENOMEM (with `out` cleared). */
int registry_endpoint_copy(const struct registry_endpoint *endpoint, const char *url,
			   struct registry_endpoint *out);
void registry_endpoint_clear(struct registry_endpoint *endpoint);

struct registries;

/* Reads the file; a missing file (or a NULL path) means no mirrors and no credentials. Malformed
 * settings fail with a message naming the file and the setting. */
int registries_load(const char *path, struct registries **out, struct ck_error *err);
void registries_free(struct registries *registries);
/* The endpoints to try for `registry` ("docker.io", "127.0.0.1:5000"), in order; never empty.
 * The array belongs to `registries` (valid until it is freed). Thread-safe. NULL only when out
 * of memory. */
const struct registry_endpoint *registries_endpoints(struct registries *registries,
						     const char *registry, size_t *count);
