#include "curl_dl.h"

DLOPEN_LIBRARY(curl, "libcurl.so.4", "libcurl4", CURL_SYMBOLS)
