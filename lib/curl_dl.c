#include "curl_dl.h"

DLOPEN_LIBRARY(curl, "libcurl-gnutls.so.4", "libcurl3-gnutls", CURL_SYMBOLS)
