/* A directory whose whole content changes at once, as the kubelet's atomic writer lays out
 * configMap and secret volumes: the files live in a timestamped directory, `..data` is a
 * symlink to it, and each top-level name is a symlink through `..data`. An update writes a new
 * timestamped directory and renames a new `..data` over the old one, so a reader inside the
 * container sees either every old file or every new one, never a mix. */
#pragma once

#include <stdbool.h>

#include "lib/error.h"
#include "volume/object_payload.h"

/* Makes `dir` (an existing directory) show `payload`. Nothing is written when it shows it
 * already; *changed (may be NULL) says whether anything was. */
int atomic_dir_write(const char *dir, const struct payload *payload, bool *changed,
		     struct ck_error *err);
