/* What a configMap or secret volume shows: the object's keys as files, chosen and named by the
 * volume's items, with their modes. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/error.h"
#include "volume/volume_spec.h"

struct payload_file {
	char *path; /* relative, checked: no "..", not absolute */
	struct buf data;
	int mode;
};

struct payload {
	struct payload_file *files;
	size_t count;
};

/* The files of `object` (a ConfigMap: data and binaryData; a Secret: base64 data), or of
 * nothing when it does not exist (NULL): an optional volume is then empty; otherwise the
 * kubelet's message, such as `configmap "app" not found` (-ENOENT). A key that items name and
 * the object lacks fails the same way unless the volume is optional. */
int payload_from_object(const struct volume_spec *volume, const json_t *object, struct payload *out,
			struct ck_error *err);
void payload_free(struct payload *payload);
