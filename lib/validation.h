/* The format checks Kubernetes applies to names, keys, ports, addresses and annotations
 * (k8s.io/apimachinery pkg/util/validation and pkg/api/validate/content), with its exact
 * detail texts, so that a client sees the message the real API server would give.
 *
 * Each check returns true when the value is valid. When it is not, and `msgs` is not NULL,
 * `msgs` holds one detail text per problem, in Kubernetes' order; the caller makes each one a
 * field error: `metadata.name: Invalid value: "Web": <detail>`. Values are C strings: a caller
 * holding a JSON string must first refuse one with an embedded NUL. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define VALIDATION_MAX_MESSAGES 6
#define VALIDATION_MESSAGE_SIZE 512

struct validation_messages {
	size_t count;
	char text[VALIDATION_MAX_MESSAGES][VALIDATION_MESSAGE_SIZE];
};

/* Joins the texts with `separator` (label selectors use "; "), appending to `out`. */
void validation_messages_join(const struct validation_messages *msgs, const char *separator,
			      struct buf *out);

/* RFC 1123 label, at most 63 characters: namespace names, container and port-less names. */
bool validate_dns1123_label(const char *value, struct validation_messages *msgs);
/* RFC 1123 subdomain, at most 253 characters: the names of most kinds. */
bool validate_dns1123_subdomain(const char *value, struct validation_messages *msgs);
/* RFC 1035 label, at most 63 characters, starting with a letter: Service names. */
bool validate_dns1035_label(const char *value, struct validation_messages *msgs);
/* Label and annotation keys: a name of at most 63 bytes with an optional DNS-subdomain prefix
 * and '/'. Kubernetes checks annotation keys after lower-casing them. */
bool validate_qualified_name(const char *value, struct validation_messages *msgs);
/* Label values: empty, or at most 63 bytes of [-A-Za-z0-9_.] starting and ending alphanumeric. */
bool validate_label_value(const char *value, struct validation_messages *msgs);
/* IANA service name, used for named ports: at most 15 characters of [-a-z0-9], with a letter. */
bool validate_port_name(const char *value, struct validation_messages *msgs);
/* A TCP/UDP port number, 1-65535. */
bool validate_port_number(int64_t port, struct validation_messages *msgs);
/* Environment variable names as Kubernetes checks them today (the relaxed rule): non-empty,
 * printable ASCII other than '='. */
bool validate_env_var_name(const char *value, struct validation_messages *msgs);
/* An IPv4 or IPv6 address in canonical form: no leading zeros, not IPv4-mapped IPv6. */
bool validate_ip_address(const char *value, struct validation_messages *msgs);
/* A CIDR in canonical form, without bits set past the prefix length. */
bool validate_cidr(const char *value, struct validation_messages *msgs);

#define ANNOTATIONS_TOTAL_SIZE_LIMIT (256 * 1024)
/* The sum of the lengths of every annotation key and string value may not exceed 256 KiB. The
 * detail belongs to a "Too long" field error on metadata.annotations. NULL has no annotations. */
bool validate_annotations_size(const json_t *annotations, struct validation_messages *msgs);
