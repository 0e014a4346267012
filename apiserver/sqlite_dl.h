/* SQLite, opened on first use (see lib/dlopen_util.h). Include this instead of <sqlite3.h>. */
#pragma once

#include <sqlite3.h>

#include "lib/dlopen_util.h"

#define SQLITE_SYMBOLS(X)         \
	X(sqlite3_bind_int64)     \
	X(sqlite3_bind_text)      \
	X(sqlite3_busy_timeout)   \
	X(sqlite3_clear_bindings) \
	X(sqlite3_close)          \
	X(sqlite3_column_bytes)   \
	X(sqlite3_column_int64)   \
	X(sqlite3_column_text)    \
	X(sqlite3_column_type)    \
	X(sqlite3_errmsg)         \
	X(sqlite3_exec)           \
	X(sqlite3_finalize)       \
	X(sqlite3_open_v2)        \
	X(sqlite3_prepare_v3)     \
	X(sqlite3_reset)          \
	X(sqlite3_step)

SQLITE_SYMBOLS(DLOPEN_DECLARE)

int dlopen_sqlite(struct ck_error *err);
