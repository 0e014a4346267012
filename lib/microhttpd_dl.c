#include "lib/microhttpd_dl.h"

DLOPEN_LIBRARY(microhttpd, "libmicrohttpd.so.12", "libmicrohttpd12", MICROHTTPD_SYMBOLS)
