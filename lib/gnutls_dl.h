/* GnuTLS, opened on first use (see dlopen_util.h): SHA-256 for image content, certificates for
 * the API server. Include this instead of the <gnutls/...> headers.
 *
 * gnutls_free is a variable (a pointer to the free function), so sym_gnutls_free points to it:
 * (*sym_gnutls_free)(p). */
#pragma once

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "lib/dlopen_util.h"

#define GNUTLS_SYMBOLS(X)                        \
	X(gnutls_free)                           \
	X(gnutls_hash)                           \
	X(gnutls_hash_deinit)                    \
	X(gnutls_hash_fast)                      \
	X(gnutls_hash_init)                      \
	X(gnutls_strerror)                       \
	X(gnutls_x509_crt_deinit)                \
	X(gnutls_x509_crt_export2)               \
	X(gnutls_x509_crt_get_subject_key_id)    \
	X(gnutls_x509_crt_import)                \
	X(gnutls_x509_crt_init)                  \
	X(gnutls_x509_crt_set_activation_time)   \
	X(gnutls_x509_crt_set_authority_key_id)  \
	X(gnutls_x509_crt_set_basic_constraints) \
	X(gnutls_x509_crt_set_dn_by_oid)         \
	X(gnutls_x509_crt_set_expiration_time)   \
	X(gnutls_x509_crt_set_key)               \
	X(gnutls_x509_crt_set_key_purpose_oid)   \
	X(gnutls_x509_crt_set_key_usage)         \
	X(gnutls_x509_crt_set_serial)            \
	X(gnutls_x509_crt_set_subject_alt_name)  \
	X(gnutls_x509_crt_set_version)           \
	X(gnutls_x509_crt_sign2)                 \
	X(gnutls_x509_privkey_deinit)            \
	X(gnutls_x509_privkey_export2)           \
	X(gnutls_x509_privkey_generate)          \
	X(gnutls_x509_privkey_import)            \
	X(gnutls_x509_privkey_init)

GNUTLS_SYMBOLS(DLOPEN_DECLARE)

int dlopen_gnutls(struct ck_error *err);
