#include "lib/conntrack_dl.h"

DLOPEN_LIBRARY(conntrack, "libnetfilter_conntrack.so.3", "libnetfilter-conntrack3",
	       CONNTRACK_SYMBOLS)
