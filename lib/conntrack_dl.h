/* libnetfilter_conntrack, opened on first use (see dlopen_util.h): the kernel's connection
 * tracking table over ctnetlink, for the Service proxy's clean-up of stale flows. Include this
 * instead of <libnetfilter_conntrack/libnetfilter_conntrack.h>, and before any <linux/...> header:
 * the library's header brings <netinet/in.h>, which clashes with a <linux/in.h> seen first. */
#pragma once

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "lib/dlopen_util.h"

#define CONNTRACK_SYMBOLS(X)            \
	X(nfct_callback_register)       \
	X(nfct_close)                   \
	X(nfct_destroy)                 \
	X(nfct_filter_dump_create)      \
	X(nfct_filter_dump_destroy)     \
	X(nfct_filter_dump_set_attr_u8) \
	X(nfct_get_attr_u16)            \
	X(nfct_get_attr_u32)            \
	X(nfct_get_attr_u8)             \
	X(nfct_open)                    \
	X(nfct_query)

CONNTRACK_SYMBOLS(DLOPEN_DECLARE)

int dlopen_conntrack(struct ck_error *err);
