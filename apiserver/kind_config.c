/* ConfigMaps and Secrets: key/value data with the same key rules, size limit and `immutable`
 * flag. Secrets carry their values base64-encoded; stringData is folded into data on write. */
#include <stdio.h>
#include <string.h>

#include "apiserver/filter.h"
#include "apiserver/kinds.h"
#include "apiserver/status.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

/* Kubernetes' limit on the data of one ConfigMap or Secret. */
#define MAX_DATA_BYTES (1024 * 1024)

static bool is_config_key(const char *key)
{
	size_t len = strlen(key);
	if (len == 0 || len > 253 || strcmp(key, ".") == 0 || strcmp(key, "..") == 0 ||
	    strncmp(key, "..", 2) == 0)
		return false;
	return strspn(key, "-._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
	       len;
}

static void validate_keys(const json_t *map, const char *field, const json_t *other, size_t *total,
			  struct field_errors *errors)
{
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)map, key, value) {
		if (!is_config_key(key))
			field_error_invalid_string(
			    errors, field, key,
			    "a valid config key must consist of alphanumeric "
			    "characters, '-', '_' or '.' (e.g. 'key.name',  or "
			    "'KEY_NAME',  or 'key-name', regex used for "
			    "validation is '[-._a-zA-Z0-9]+')");
		if (other && json_object_get(other, key)) {
			char path[512];
			snprintf(path, sizeof(path), "%s[%s]", field, key);
			field_error_invalid_string(errors, path, key,
						   "duplicate of key present in data");
		}
		if (!json_is_string(value)) {
			char path[512];
			snprintf(path, sizeof(path), "%s[%s]", field, key);
			field_error_invalid(errors, path, value, "must be a string");
			continue;
		}
		*total += strlen(json_string_value(value));
	}
}

static void validate_immutable(const json_t *obj, const json_t *old, struct field_errors *errors)
{
	if (!json_is_true(json_object_get(old, "immutable")))
		return;
	if (!json_is_true(json_object_get(obj, "immutable")))
		field_error_forbidden(errors, "immutable",
				      "field is immutable when `immutable` is set");
	static const char *const fields[] = {"data", "binaryData", "stringData"};
	for (size_t i = 0; i < 3; i++)
		if (!json_equal(json_object_get(obj, fields[i]), json_object_get(old, fields[i])) &&
		    (json_object_get(obj, fields[i]) || json_object_get(old, fields[i])))
			field_error_forbidden(errors, fields[i],
					      "field is immutable when `immutable` is set");
}

static void configmap_validate(const json_t *cm, struct field_errors *errors)
{
	size_t total = 0;
	validate_keys(json_object_get(cm, "data"), "data", NULL, &total, errors);
	validate_keys(json_object_get(cm, "binaryData"), "binaryData", json_object_get(cm, "data"),
		      &total, errors);
	if (total > MAX_DATA_BYTES)
		field_error_too_long(errors, "", MAX_DATA_BYTES);
}

static void secret_set_defaults(json_t *secret)
{
	kind_default_string(secret, "type", "Opaque");
	json_t *string_data = json_object_get(secret, "stringData");
	if (!json_is_object(string_data))
		return;
	json_t *data = json_object_ensure(secret, "data");
	const char *key;
	json_t *value;
	json_object_foreach (string_data, key, value) {
		const char *text = json_string_value(value);
		if (!text)
			continue;
		_cleanup_buf_ struct buf encoded = {0};
		base64_encode(text, strlen(text), &encoded);
		json_object_set_new(data, key, json_string(encoded.data ? encoded.data : ""));
	}
	json_object_del(secret, "stringData");
}

static void secret_validate(const json_t *secret, struct field_errors *errors)
{
	size_t total = 0;
	const json_t *data = json_object_get(secret, "data");
	validate_keys(data, "data", NULL, &total, errors);
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)data, key, value) {
		const char *text = json_string_value(value);
		_cleanup_buf_ struct buf decoded = {0};
		if (text && base64_decode(text, strlen(text), &decoded, NULL) < 0) {
			char path[512];
			snprintf(path, sizeof(path), "data[%s]", key);
			field_error_invalid(errors, path, value, "illegal base64 data");
		}
	}
	if (total > MAX_DATA_BYTES * 4 / 3 + 4)
		field_error_too_long(errors, "data", MAX_DATA_BYTES);
}

static void secret_validate_update(const json_t *secret, const json_t *old,
				   struct field_errors *errors)
{
	const char *type = json_string_value(json_object_get(secret, "type"));
	const char *old_type = json_string_value(json_object_get(old, "type"));
	if (type && old_type && strcmp(type, old_type) != 0)
		field_error_invalid(errors, "type", json_object_get(secret, "type"),
				    "field is immutable");
	validate_immutable(secret, old, errors);
}

static const struct table_column configmap_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Data", "integer", "", "Number of keys", 0},
    {"Age", "string", "", "CreationTimestamp", 0},
};

static void configmap_table_cells(const json_t *cm, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(cm, "metadata.name"), "");
	json_array_append_new(
	    cells, json_integer((json_int_t)(json_object_size(json_object_get(cm, "data")) +
					     json_object_size(json_object_get(cm, "binaryData")))));
	char age[32];
	kind_age(cm, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
}

static const struct table_column secret_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Type", "string", "", "The type of the secret", 0},
    {"Data", "integer", "", "Number of keys", 0},
    {"Age", "string", "", "CreationTimestamp", 0},
};

static void secret_table_cells(const json_t *secret, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(secret, "metadata.name"), "");
	kind_cell_string(cells, json_string_value(json_object_get(secret, "type")), "");
	json_array_append_new(
	    cells, json_integer((json_int_t)json_object_size(json_object_get(secret, "data"))));
	char age[32];
	kind_age(secret, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
}

static const char *const secret_field_names[] = {"type", NULL};

static void secret_selectable_fields(const json_t *secret, struct buf *fields)
{
	const char *type = json_string_value(json_object_get(secret, "type"));
	field_set_add(fields, "type", type ? type : "");
}

const struct kind_strategy configmap_strategy = {
    .validate = configmap_validate,
    .validate_update = validate_immutable,
    .columns = configmap_columns,
    .column_count = sizeof(configmap_columns) / sizeof(configmap_columns[0]),
    .table_cells = configmap_table_cells,
};

const struct kind_strategy secret_strategy = {
    .set_defaults = secret_set_defaults,
    .validate = secret_validate,
    .validate_update = secret_validate_update,
    .selectable_fields = secret_selectable_fields,
    .field_names = secret_field_names,
    .columns = secret_columns,
    .column_count = sizeof(secret_columns) / sizeof(secret_columns[0]),
    .table_cells = secret_table_cells,
};
