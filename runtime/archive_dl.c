#include "runtime/archive_dl.h"

DLOPEN_LIBRARY(archive, "libarchive.so.13", "libarchive13", ARCHIVE_SYMBOLS)
