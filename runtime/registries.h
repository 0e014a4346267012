/* Registry settings from <config-dir>/registries.yaml, in the format k3s uses:
 *
 *   mirrors:
 *     docker.io:
 *       endpoint: ["http://127.0.0.1:5000"]
 *   configs:
 *     "127.0.0.1:5000":
 *       auth: {username: u, password: p}
 *       tls: {insecure_skip_verify: true, ca_file: /path}
 *
 * A registry is reached through its mirror endpoints first, then itself over https. Plain
 * http is used only for endpoints written with http://, i.e. configured as insecure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

struct registry_endpoint {
	char *url;         /* "https://registry-1.docker.io" or "http://127.0.0.1:5000" */
	char *username;    /* basic auth, or NULL */
	char *password;
	char *ca_file;     /* extra CA, or NULL */
	bool insecure_tls; /* skip certificate checks */
};

struct registries;

/* Reads the file; a missing file means no mirrors and no credentials. */
int registries_load(const char *path, struct registries **out, struct ck_error *err);
void registries_free(struct registries *registries);
/* The endpoints to try for `registry` ("docker.io", "127.0.0.1:5000"), in order. The array
 * belongs to `registries` (valid until it is freed). */
const struct registry_endpoint *registries_endpoints(struct registries *registries,
						     const char *registry, size_t *count);
