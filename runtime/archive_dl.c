#include "runtime/archive_dl.h"

#include <errno.h>

DLOPEN_LIBRARY(archive, "libarchive.so.13", "libarchive13", ARCHIVE_SYMBOLS)

int archive_error(struct ck_error *err, struct archive *a, const char *step)
{
	int code = sym_archive_errno(a) > 0 ? sym_archive_errno(a) : EINVAL;
	const char *text = sym_archive_error_string(a);
	return ck_error_set(err, code, "%s: %s", step, text ? text : "unknown libarchive error");
}
