/* Kubernetes' protobuf request bodies, read into the JSON the API server handles for every other
 * body. kubectl 1.32 sends its imperative creates this way ("kubectl create namespace",
 * "create configmap", "create secret generic", "create service clusterip"). The schema
 * (apiserver/schema.h) gives the number, type and Go pointer-ness of every field. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "lib/error.h"

/* The media type of such bodies; parameters after ';' do not change the encoding. */
#define PROTOBUF_CONTENT_TYPE "application/vnd.kubernetes.protobuf"

/* Reads the envelope (the magic "k8s\0", then a runtime.Unknown holding apiVersion, kind and
 * the raw message), finds the kind in the schema and decodes the raw message into a new JSON
 * object at *object, with "apiVersion" and "kind" set, shaped as Go writes the object in JSON:
 *   - bytes become base64 text, Time and MicroTime RFC 3339 text in UTC (Time in whole seconds),
 *     a Quantity its string, an IntOrString a number or a string, FieldsV1 the JSON it carries;
 *   - a plain field holding its zero value ("", 0, false; Go always sends those) and a zero Time
 *     are left out, as unset; a pointer field keeps its zero value (runAsUser: 0);
 *   - unknown field numbers are skipped, as Go's decoder does.
 * Field values are not checked for their syntax (a quantity's text, a name): schema_check() and
 * the kind's validation do that, as for JSON bodies. Returns 0; -EINVAL for a body that is not
 * such a message, or names a kind the schema lacks, with err saying where ("protobuf Pod:
 * spec.containers[0].ports: truncated varint"); -ENOMEM; or schema_init()'s error. */
int protobuf_decode(const void *data, size_t len, json_t **object, struct ck_error *err);
