/* libmicrohttpd, opened on first use (see lib/dlopen_util.h). Include this instead of
 * <microhttpd.h>. sym_MHD_start_daemon() is variadic like MHD_start_daemon(): each option's
 * value goes with the type the option documents. */
#pragma once

#include <microhttpd.h>

#include "lib/dlopen_util.h"

#define MICROHTTPD_SYMBOLS(X)                \
	X(MHD_add_response_header)           \
	X(MHD_create_response_from_buffer)   \
	X(MHD_create_response_from_callback) \
	X(MHD_create_response_for_upgrade)   \
	X(MHD_destroy_response)              \
	X(MHD_get_connection_info)           \
	X(MHD_get_connection_values)         \
	X(MHD_lookup_connection_value)       \
	X(MHD_queue_response)                \
	X(MHD_resume_connection)             \
	X(MHD_set_connection_option)         \
	X(MHD_start_daemon)                  \
	X(MHD_stop_daemon)                   \
	X(MHD_suspend_connection)            \
	X(MHD_upgrade_action)

MICROHTTPD_SYMBOLS(DLOPEN_DECLARE)

int dlopen_microhttpd(struct ck_error *err);
