/* libcurl, opened on first use (see dlopen_util.h). Include this instead of <curl/curl.h>.
 *
 * curl_easy_setopt() and curl_easy_getinfo() are variadic: sym_curl_easy_setopt() takes its
 * value as the option documents it (long, curl_off_t, a pointer, a callback), and curl's
 * compile-time type checks, a macro around the linked function, do not apply to the pointer. */
#pragma once

#include <curl/curl.h>

#include "lib/dlopen_util.h"

#define CURL_SYMBOLS(X)       \
	X(curl_easy_cleanup)  \
	X(curl_easy_escape)   \
	X(curl_easy_getinfo)  \
	X(curl_easy_init)     \
	X(curl_easy_perform)  \
	X(curl_easy_reset)    \
	X(curl_easy_setopt)   \
	X(curl_easy_strerror) \
	X(curl_free)          \
	X(curl_global_init)   \
	X(curl_slist_append)  \
	X(curl_slist_free_all)

CURL_SYMBOLS(DLOPEN_DECLARE)

int dlopen_curl(struct ck_error *err);

/* Opens libcurl and runs its global set-up, once per process: what every user of libcurl calls
 * first. -ELIBACC when the library is missing, -EIO when its set-up failed. */
int curl_ready(struct ck_error *err);
