/* Content negotiation: what the client's Accept header asks for (plain JSON, a Table, partial
 * metadata, aggregated discovery) and how request bodies are to be read. */
#pragma once

#include <stdbool.h>

enum output_kind {
	OUTPUT_JSON,
	OUTPUT_TABLE,
	OUTPUT_PARTIAL_METADATA,
};

struct output_format {
	enum output_kind kind;
	char api_version[32]; /* of the Table / PartialObjectMetadata: "meta.k8s.io/v1" */
};

/* Picks the first acceptable entry of `accept` (NULL or empty = JSON). False when none is. */
bool negotiate_output(const char *accept, struct output_format *out);

/* For GET /api and /apis: the aggregated discovery version asked for ("v2", "v2beta1"), or
 * NULL for the legacy documents. */
const char *negotiate_discovery(const char *accept);

enum body_format { BODY_JSON, BODY_YAML, BODY_PROTOBUF, BODY_UNSUPPORTED };

/* How to read a request body with this Content-Type (parameters ignored). */
enum body_format negotiate_body(const char *content_type);
