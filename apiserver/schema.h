/* The shape of every kind the API server stores: field names, value types and the strategic
 * merge metadata of lists. Loaded once at start from the embedded schema documents
 * (apiserver/schema/, one YAML file per group of types). Used to refuse unknown fields
 * (fieldValidation=Strict), to refuse values of the wrong type, to drop unknown fields otherwise,
 * and to merge lists by key in strategic merge patches.
 *
 * Schema documents map each type name to its fields, and each field to a type expression:
 *   PodSpec:
 *     containers: "[]Container merge=name"
 *     nodeSelector: "{}string"
 * A type is a builtin (string, int32, int64, number, boolean, int-or-string, quantity, time,
 * bytes, any), the name of a type defined in any document, "[]T" (list) or "{}T" (map from
 * string). Options follow after spaces: "merge=<key>" (list of objects merged by that field),
 * "merge" (list of scalars merged as a set), "replace", "retainKeys". "bytes" is base64 text
 * (Go's []byte); "time" is a string. YAML anchors and "<<" merge keys let one type reuse
 * another's fields. "microtime" is a builtin too: a string like "time", told apart because
 * metav1.MicroTime keeps microseconds where metav1.Time drops them.
 *
 * Kubernetes' protobuf encoding (generated.proto) adds two marks:
 *   PodSpec:
 *     containers: "[]Container pb=2 merge=name"
 *     activeDeadlineSeconds: "*int64 pb=5"
 *   Probe:
 *     exec: ExecAction pb=1.1
 * "pb=N" is the field's number. "pb=E.N" is field N of the message in field E: Go embeds a struct
 * there whose fields JSON shows inline (a Probe's handler, a Volume's source). Fields without
 * "pb=" are not in the message (apiVersion and kind travel in the envelope). "*" before a scalar
 * type marks a Go pointer: protobuf sends plain fields always, their zero value meaning unset,
 * and pointers only when set, so a pointer's zero (runAsUser: 0) is a value to keep. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

enum schema_kind {
	SCHEMA_STRING,
	SCHEMA_INTEGER,
	SCHEMA_NUMBER,
	SCHEMA_BOOLEAN,
	SCHEMA_INT_OR_STRING, /* e.g. a Service's targetPort: 8080 or "http" */
	SCHEMA_QUANTITY,      /* "100m", "64Mi", or a plain number */
	SCHEMA_OBJECT,        /* a struct with named fields */
	SCHEMA_ARRAY,         /* []element */
	SCHEMA_MAP,           /* map[string]element */
	SCHEMA_ANY,           /* free-form JSON, kept as sent */
};

/* How a strategic merge patch treats a field (Kubernetes' patchStrategy tag). */
enum patch_strategy {
	PATCH_STRATEGY_DEFAULT, /* lists are replaced, objects and maps merged */
	PATCH_STRATEGY_MERGE,   /* lists merged: by merge_key for objects, as a set for scalars */
	PATCH_STRATEGY_REPLACE, /* replaced whole, also objects */
	PATCH_STRATEGY_RETAIN_KEYS,
	PATCH_STRATEGY_MERGE_RETAIN_KEYS, /* "merge,retainKeys" */
};

struct schema_type;

struct schema_field {
	const char *name;
	const struct schema_type *type;
	enum patch_strategy strategy;
	const char *merge_key; /* for lists of objects with PATCH_STRATEGY_MERGE; else NULL */
	unsigned pb_number;    /* "pb=": the protobuf field number; 0 when not in the message */
	unsigned pb_embedded;  /* "pb=E.N": E, the number of the embedded message; else 0 */
	bool pointer;          /* "*": a zero value received is kept, not taken as unset */
};

struct schema_type {
	enum schema_kind kind;
	/* "PodSpec" (the kind name for top-level types), a builtin's name ("int32", "time"), or the
	 * expression of a list or map ("[]Container", "{}string"). */
	const char *name;
	const struct schema_type *element; /* items of SCHEMA_ARRAY, values of SCHEMA_MAP */
	const struct schema_field *fields; /* SCHEMA_OBJECT: sorted by name */
	size_t field_count;
	unsigned bits; /* SCHEMA_INTEGER: 32 or 64, the range of the Go field */
	bool base64;   /* SCHEMA_STRING: bytes as base64 text (Go's []byte) */
};

/* Loads the embedded schema documents. Idempotent and thread-safe; returns 0 or -errno. */
int schema_init(struct ck_error *err);
/* The type of a top-level kind ("Pod") or a named type ("ObjectMeta"); NULL when unknown or
 * before schema_init(). */
const struct schema_type *schema_lookup(const char *type_name);
/* The field of an object type; NULL when `type` is not an object or has no such field. */
const struct schema_field *schema_field(const struct schema_type *type, const char *name);

/* Checks `value` against `type`. Wrong types are problems (reason "FieldValueInvalid"); JSON null
 * is accepted anywhere, as Go's decoder does. Unknown fields are problems too (reason
 * "FieldValueUnknown"): when `strict` they stay in `value`, else they are removed from it, so one
 * call serves fieldValidation=Strict (fail), Warn (warn with the messages) and Ignore. Problems
 * are appended to `problems` (NULL when only the count matters) as {"field":
 * "spec.containers[0].imagee", "message": ..., "reason": ...}, in document order; returns their
 * number. Messages follow Kubernetes' decoder:
 *   unknown field "spec.containers[0].imagee"
 *   json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.
 *   containerPort of type int32     (one line; the struct holding the field, then its path)
 *   illegal base64 data at input byte 4 */
size_t schema_check(const struct schema_type *type, json_t *value, bool strict, json_t *problems);
