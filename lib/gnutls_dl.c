#include "gnutls_dl.h"

DLOPEN_LIBRARY(gnutls, "libgnutls.so.30", "libgnutls30", GNUTLS_SYMBOLS)
