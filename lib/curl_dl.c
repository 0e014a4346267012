#include "curl_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

DLOPEN_LIBRARY(curl, "libcurl-gnutls.so.4", "libcurl3-gnutls", CURL_SYMBOLS)

/* libssh2.h's flag (its -dev package is not needed for one number). */
#define LIBSSH2_INIT_NO_CRYPTO 0x0001

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static CURLcode setup_result;

/* libcurl's global set-up starts libssh2, which then initialises OpenSSL's libcrypto for SSH
 * transfers (1.5 MiB of resident memory in every process, the node agent included). ckube never
 * makes one: libssh2 is started first without crypto, and only counts libcurl's start. */
static void start_libssh2_without_crypto(void)
{
	void *libssh2 = dlopen("libssh2.so.1", RTLD_NOW | RTLD_NOLOAD);
	void *address = libssh2 ? dlsym(libssh2, "libssh2_init") : NULL;
	int (*init)(int);

	if (address) {
		memcpy(&init, &address, sizeof(address));
		init(LIBSSH2_INIT_NO_CRYPTO);
	}
	/* Only the reference RTLD_NOLOAD took: libcurl keeps the library. */
	if (libssh2)
		dlclose(libssh2);
}

static void setup(void)
{
	start_libssh2_without_crypto();
	setup_result = sym_curl_global_init(CURL_GLOBAL_DEFAULT);
}

int curl_ready(struct ck_error *err)
{
	int r = dlopen_curl(err);

	if (r < 0)
		return r;
	pthread_once(&setup_once, setup);
	if (setup_result != CURLE_OK)
		return ck_error_set(err, EIO, "initialize libcurl: %s",
				    sym_curl_easy_strerror(setup_result));
	return 0;
}
