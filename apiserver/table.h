/* meta.k8s.io Tables: what `kubectl get` prints, computed on the server from each kind's
 * columns so every client shows the same thing. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

struct api_resource;

enum table_include { TABLE_INCLUDE_METADATA, TABLE_INCLUDE_NONE, TABLE_INCLUDE_OBJECT };

/* An empty Table of `resource`; `with_columns` false leaves columnDefinitions null (watch
 * events after the first). */
json_t *table_new(const struct api_resource *resource, const char *api_version, bool with_columns);
void table_add_row(json_t *table, const struct api_resource *resource, const json_t *obj,
		   enum table_include include, time_t now);
