/* Resource quantities ("250m", "64Mi", "1.5", "2e3") as Kubernetes reads them
 * (k8s.io/apimachinery pkg/api/resource), and the ways ckube prints them. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "error.h"

/* A quantity rounded up (away from zero) to a thousandth and to a whole number, each clamped
 * to the int64 range: "250m" is {250, 1}, "1.5" {1500, 2}, "64Mi" {67108864000, 67108864}. */
struct quantity {
	int64_t milli;
	int64_t value;
};

/* An optional sign, a decimal number, and a suffix: n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or
 * an exponent e3 / E-2. Returns 0 or -EINVAL with Kubernetes' message, e.g. "quantities must
 * match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'". Like
 * Kubernetes, it reads a lone sign, "." or suffix as zero. */
int quantity_parse(const char *text, struct quantity *out, struct ck_error *err);

/* A quantity in a JSON object: a string (surrounding spaces ignored), a number, or null for
 * zero, as Kubernetes decodes it. */
int quantity_from_json(const json_t *value, struct quantity *out, struct ck_error *err);

/* Room for any of the texts below. */
#define QUANTITY_TEXT_SIZE 32

/* CPU in Kubernetes' canonical form: 250 -> "250m", 2000 -> "2", 1500 -> "1500m". */
const char *quantity_format_cpu(int64_t millicores, char out[QUANTITY_TEXT_SIZE]);
/* Bytes with the largest binary suffix that divides them exactly: "64Mi", "1536Ki", "1Gi";
 * plain digits when none does ("1000"). */
const char *quantity_format_memory(int64_t bytes, char out[QUANTITY_TEXT_SIZE]);
/* kubectl top's columns: whole millicores ("250m") and bytes rounded down to MiB ("64Mi"). */
const char *quantity_format_top_cpu(int64_t millicores, char out[QUANTITY_TEXT_SIZE]);
const char *quantity_format_top_memory(int64_t bytes, char out[QUANTITY_TEXT_SIZE]);
