/* Content digests as images name them: "sha256:" and 64 lower-case hex digits. The hashing is
 * GnuTLS' (lib/gnutls_dl.h), opened on first use. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

/* "sha256:" and 64 hex digits. */
#define IMAGE_DIGEST_LENGTH 71
#define IMAGE_SHA256_BYTES 32

/* "sha256:<64 hex>"; false for anything else (other algorithms, bad length, upper case). */
bool image_digest_valid(const char *digest);

/* The hex digits of a valid digest, as the store and the OCI layout name files. */
const char *image_digest_hex(const char *digest);

/* A finished SHA-256 as a digest, into `out` (IMAGE_DIGEST_LENGTH + 1 bytes). */
void image_digest_format(const unsigned char sum[IMAGE_SHA256_BYTES], char *out);

/* The digest of `len` bytes, into `out` (IMAGE_DIGEST_LENGTH + 1 bytes). */
int image_digest_of(const void *data, size_t len, char *out, struct ck_error *err);
