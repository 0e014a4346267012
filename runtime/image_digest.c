#include "runtime/image_digest.h"

#include <errno.h>
#include <string.h>

#include "lib/gnutls_dl.h"

#define DIGEST_PREFIX "sha256:"
#define DIGEST_PREFIX_LENGTH 7

bool image_digest_valid(const char *digest)
{
	if (!digest || strncmp(digest, DIGEST_PREFIX, DIGEST_PREFIX_LENGTH) != 0)
		return false;
	const char *hex = digest + DIGEST_PREFIX_LENGTH;
	return strlen(hex) == 2 * IMAGE_SHA256_BYTES &&
	       strspn(hex, "0123456789abcdef") == strlen(hex);
}

const char *image_digest_hex(const char *digest)
{
	return digest + DIGEST_PREFIX_LENGTH;
}

void image_digest_format(const unsigned char sum[IMAGE_SHA256_BYTES], char *out)
{
	static const char hex[] = "0123456789abcdef";
	memcpy(out, DIGEST_PREFIX, DIGEST_PREFIX_LENGTH);
	for (size_t i = 0; i < IMAGE_SHA256_BYTES; i++) {
		out[DIGEST_PREFIX_LENGTH + 2 * i] = hex[sum[i] >> 4];
		out[DIGEST_PREFIX_LENGTH + 2 * i + 1] = hex[sum[i] & 15];
	}
	out[IMAGE_DIGEST_LENGTH] = '\0';
}

int image_digest_of(const void *data, size_t len, char *out, struct ck_error *err)
{
	if (dlopen_gnutls(err) < 0)
		return ck_error_prefix(err, "sha256");
	unsigned char sum[IMAGE_SHA256_BYTES];
	if (sym_gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, sum) < 0)
		return ck_error_set(err, EIO, "sha256: the hash failed");
	image_digest_format(sum, out);
	return 0;
}
