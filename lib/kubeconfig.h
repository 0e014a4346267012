/* The kubeconfig that kubectl reads: which file (--kubeconfig, else the first file in
 * $KUBECONFIG, else ~/.kube/config), and from it the current context's server, credentials and
 * namespace. Certificate and key material comes out as PEM text, decoded from the *-data fields
 * or read from the files they name (relative to the kubeconfig's directory). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct kubeconfig {
	char *path;      /* the file it was read from */
	char *context;   /* the context in use */
	char *server;    /* "https://host:port" */
	char *namespace; /* the context's namespace, "default" when it names none */
	char *token;     /* bearer token, or NULL */
	char *ca_pem;    /* certificate authority bundle, or NULL */
	size_t ca_pem_len;
	char *client_cert_pem; /* client certificate and key, or NULL */
	size_t client_cert_pem_len;
	char *client_key_pem;
	size_t client_key_pem_len;
	bool insecure_skip_tls_verify;
};

/* The file kubectl would read: `explicit_path` when given, else the first non-empty entry of
 * $KUBECONFIG, else $HOME/.kube/config. Returns a malloc'ed path or NULL when none applies. */
char *kubeconfig_path(const char *explicit_path);

/* Reads the kubeconfig from `path` (see kubeconfig_path) and resolves `context_name`, or the
 * file's current-context when NULL. On success fills `config` (free with kubeconfig_free). */
int kubeconfig_load(const char *path, const char *context_name, struct kubeconfig *config,
		    struct ck_error *err);

/* Like kubeconfig_load on text already in memory; `path` names the file in messages and anchors
 * relative file references. */
int kubeconfig_parse(const char *text, size_t len, const char *path, const char *context_name,
		     struct kubeconfig *config, struct ck_error *err);

void kubeconfig_free(struct kubeconfig *config);
