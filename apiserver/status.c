#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "apiserver/resources.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/validation.h"

void api_status_clear(struct api_status *status)
{
	json_decref(status->details);
	memset(status, 0, sizeof(*status));
}

static int api_failv(struct api_status *status, unsigned code, const char *reason, const char *fmt,
		     va_list ap)
{
	status->code = code;
	status->reason = reason;
	vsnprintf(status->message, sizeof(status->message), fmt, ap);
	return -1;
}

int api_fail(struct api_status *status, unsigned code, const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	api_failv(status, code, reason, fmt, ap);
	va_end(ap);
	return -1;
}

int api_fail_internal(struct api_status *status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	api_failv(status, 500, "InternalError", fmt, ap);
	va_end(ap);
	return -1;
}

void api_status_set_object(struct api_status *status, const struct api_resource *resource,
			   const char *name)
{
	json_decref(status->details);
	status->details = json_pack("{s:s, s:s, s:s}", "name", name ? name : "", "group",
				    resource->group, "kind", resource->plural);
}

int api_fail_not_found(struct api_status *status, const struct api_resource *resource,
		       const char *name)
{
	api_fail(status, 404, "NotFound", "%s \"%s\" not found", resource->plural, name);
	api_status_set_object(status, resource, name);
	return -1;
}

int api_fail_already_exists(struct api_status *status, const struct api_resource *resource,
			    const char *name)
{
	api_fail(status, 409, "AlreadyExists", "%s \"%s\" already exists", resource->plural, name);
	api_status_set_object(status, resource, name);
	return -1;
}

int api_fail_conflict(struct api_status *status, const struct api_resource *resource,
		      const char *name, const char *why)
{
	api_fail(status, 409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": %s",
		 resource->plural, name, why);
	api_status_set_object(status, resource, name);
	return -1;
}

json_t *api_status_to_json(const struct api_status *status)
{
	json_t *out =
	    json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
		      "metadata", "status", status->code < 400 ? "Success" : "Failure", "message",
		      status->message, "reason", status->reason ? status->reason : "", "code",
		      (int)status->code);
	if (out && status->details)
		json_object_set(out, "details", status->details);
	return out;
}

void field_errors_init(struct field_errors *errors)
{
	errors->causes = json_array();
	errors->summary[0] = '\0';
}

void field_errors_clear(struct field_errors *errors)
{
	json_decref(errors->causes);
	errors->causes = NULL;
}

size_t field_errors_count(const struct field_errors *errors)
{
	return json_array_size(errors->causes);
}

static void add_cause(struct field_errors *errors, const char *reason, const char *field,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_cause(struct field_errors *errors, const char *reason, const char *field,
		      const char *fmt, ...)
{
	char message[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	json_array_append_new(errors->causes, json_pack("{s:s, s:s, s:s}", "reason", reason,
							"message", message, "field", field));
	size_t used = strlen(errors->summary);
	snprintf(errors->summary + used, sizeof(errors->summary) - used, "%s%s: %s",
		 used ? ", " : "", field, message);
}

void field_error_required(struct field_errors *errors, const char *field, const char *detail)
{
	if (detail)
		add_cause(errors, "FieldValueRequired", field, "Required value: %s", detail);
	else
		add_cause(errors, "FieldValueRequired", field, "Required value");
}

void field_error_invalid(struct field_errors *errors, const char *field, const json_t *value,
			 const char *detail)
{
	_cleanup_free_ char *shown = value ? json_dump_compact(value) : strdup("null");
	add_cause(errors, "FieldValueInvalid", field, "Invalid value: %s: %s", shown ? shown : "",
		  detail);
}

void field_error_invalid_string(struct field_errors *errors, const char *field, const char *value,
				const char *detail)
{
	_cleanup_json_ json_t *shown = json_string(value ? value : "");
	field_error_invalid(errors, field, shown, detail);
}

void field_error_invalid_messages(struct field_errors *errors, const char *field, const char *value,
				  const struct validation_messages *messages)
{
	for (size_t i = 0; i < messages->count; i++)
		field_error_invalid_string(errors, field, value, messages->text[i]);
}

void field_error_duplicate(struct field_errors *errors, const char *field, const json_t *value)
{
	_cleanup_free_ char *shown = json_dump_compact(value);
	add_cause(errors, "FieldValueDuplicate", field, "Duplicate value: %s", shown);
}

void field_error_not_supported(struct field_errors *errors, const char *field, const json_t *value,
			       const char *const *supported)
{
	_cleanup_free_ char *shown = json_dump_compact(value);
	char list[512] = "";
	for (size_t i = 0; supported && supported[i]; i++) {
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "%s\"%s\"", i ? ", " : "", supported[i]);
	}
	add_cause(errors, "FieldValueNotSupported", field,
		  "Unsupported value: %s: supported values: %s", shown, list);
}

void field_error_not_found(struct field_errors *errors, const char *field, const json_t *value)
{
	_cleanup_free_ char *shown = json_dump_compact(value);
	add_cause(errors, "FieldValueNotFound", field, "Not found: %s", shown);
}

void field_error_forbidden(struct field_errors *errors, const char *field, const char *detail)
{
	add_cause(errors, "FieldValueForbidden", field, "Forbidden: %s", detail);
}

void field_error_too_long(struct field_errors *errors, const char *field, size_t max)
{
	add_cause(errors, "FieldValueTooLong", field, "Too long: may not be more than %zu bytes",
		  max);
}

int api_fail_invalid(struct api_status *status, const struct api_resource *resource,
		     const char *name, struct field_errors *errors)
{
	if (field_errors_count(errors) > 1)
		api_fail(status, 422, "Invalid", "%s \"%s\" is invalid: [%s]", resource->kind, name,
			 errors->summary);
	else
		api_fail(status, 422, "Invalid", "%s \"%s\" is invalid: %s", resource->kind, name,
			 errors->summary);
	json_decref(status->details);
	status->details = json_pack("{s:s, s:s, s:s, s:O}", "name", name, "group", resource->group,
				    "kind", resource->kind, "causes", errors->causes);
	return -1;
}
