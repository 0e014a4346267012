/* TLS for an API server that listens beyond loopback: clients (kubectl among them) send their
 * bearer token only over TLS. A cluster CA is made at first start and kept in
 * <data-dir>/tls/; the serving certificate is signed by it afresh at each start for the names
 * and addresses the server answers on. Clients trust the CA through the kubeconfig. */
#pragma once

#include "lib/error.h"

struct tls_material {
	char *ca_pem;   /* the CA certificate, for kubeconfigs */
	char *cert_pem; /* the serving certificate */
	char *key_pem;  /* its private key */
};

/* `ips` and `names` (NULL-terminated) go into the serving certificate's subject alternative
 * names. */
int tls_prepare(const char *data_dir, const char *const *ips, const char *const *names,
		struct tls_material *out, struct ck_error *err);
void tls_material_clear(struct tls_material *material);
