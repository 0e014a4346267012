/* Failures as the Kubernetes API reports them: a metav1.Status with an HTTP code, a reason
 * clients switch on (NotFound, AlreadyExists, Conflict, Invalid, ...) and a message users read.
 * Validation problems collect in field_errors and become the causes of a 422 Invalid. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct api_resource;

struct api_status {
	unsigned code;      /* HTTP status; 0 while nothing failed */
	const char *reason; /* static: "NotFound", "Invalid", ... */
	char message[1024];
	json_t *details; /* {"name","group","kind","causes"} or NULL */
};

void api_status_clear(struct api_status *status);
/* Sets a failure; returns -1 so callers can `return api_fail(...)`. */
int api_fail(struct api_status *status, unsigned code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* details.name/group/kind for the common per-object failures. */
void api_status_set_object(struct api_status *status, const struct api_resource *resource,
			   const char *name);

int api_fail_not_found(struct api_status *status, const struct api_resource *resource,
		       const char *name);
int api_fail_already_exists(struct api_status *status, const struct api_resource *resource,
			    const char *name);
int api_fail_conflict(struct api_status *status, const struct api_resource *resource,
		      const char *name, const char *why);
int api_fail_internal(struct api_status *status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The Status object for the wire. */
json_t *api_status_to_json(const struct api_status *status);

/* Field-level problems of one object, worded like Kubernetes' field.Error. */
struct field_errors {
	json_t *causes;     /* [{"reason","message","field"}] */
	char summary[1024]; /* "a: Required value, b: Invalid value: ..." as far as it fits */
};

void field_errors_init(struct field_errors *errors);
void field_errors_clear(struct field_errors *errors);
size_t field_errors_count(const struct field_errors *errors);
void field_error_required(struct field_errors *errors, const char *field, const char *detail);
/* `value` is shown JSON-encoded, as Kubernetes does ("Invalid value: \"Bad_Name\": ..."). */
void field_error_invalid(struct field_errors *errors, const char *field, const json_t *value,
			 const char *detail);
void field_error_invalid_string(struct field_errors *errors, const char *field, const char *value,
				const char *detail);
struct validation_messages;
/* One Invalid cause per message of a lib/validation.h check, as Kubernetes reports each
 * problem of one value separately. */
void field_error_invalid_messages(struct field_errors *errors, const char *field, const char *value,
				  const struct validation_messages *messages);
void field_error_duplicate(struct field_errors *errors, const char *field, const json_t *value);
void field_error_not_supported(struct field_errors *errors, const char *field, const json_t *value,
			       const char *const *supported);
void field_error_not_found(struct field_errors *errors, const char *field, const json_t *value);
void field_error_forbidden(struct field_errors *errors, const char *field, const char *detail);
void field_error_too_long(struct field_errors *errors, const char *field, size_t max);

/* Turns collected problems into 422 Invalid: `Pod "bad" is invalid: spec.containers: Required
 * value`. Returns -1. */
int api_fail_invalid(struct api_status *status, const struct api_resource *resource,
		     const char *name, struct field_errors *errors);
