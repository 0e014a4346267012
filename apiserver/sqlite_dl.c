#include "apiserver/sqlite_dl.h"

DLOPEN_LIBRARY(sqlite, "libsqlite3.so.0", "libsqlite3-0", SQLITE_SYMBOLS)
