/* Field paths such as "spec.containers[0].ports", built up while a walk descends into an
 * object, for messages that say where a problem is. Each push returns a mark to pop back to. */
#pragma once

#include <stddef.h>

#include "lib/buf.h"

size_t field_path_push_name(struct buf *path, const char *name, size_t len);
size_t field_path_push_index(struct buf *path, size_t index);
void field_path_pop(struct buf *path, size_t mark);
/* The path as text; "" before anything was pushed. */
const char *field_path_text(const struct buf *path);
