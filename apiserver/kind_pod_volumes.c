/* Pod volumes and volume mounts as kube-apiserver defaults and validates them: the same checks in
 * the same order, with the same field paths and messages (quirks included), so that a user reads
 * what a real cluster would have said about the same manifest. */
#include "apiserver/kind_pod_volumes.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "apiserver/kinds.h"
#include "apiserver/status.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/quantity.h"
#include "lib/validation.h"

#define FIELD_SIZE 256
#define DEFAULT_FILE_MODE 0644
#define MAX_FILE_MODE 0777
#define FILE_MODE_MESSAGE "must be a number between 0 and 0777 (octal), both inclusive"

/* "base.name", the path of a member of the object at `base`. */
static const char *member(char out[FIELD_SIZE], const char *base, const char *name)
{
	snprintf(out, FIELD_SIZE, "%s.%s", base, name);
	return out;
}

/* What Go decodes into a set pointer: present and not null. */
static bool is_set(const json_t *value)
{
	return value && !json_is_null(value);
}

/* A string field as Go reads it: missing and null are "". */
static const char *string_field(const json_t *obj, const char *key)
{
	const char *text = json_string_value(json_object_get(obj, key));
	return text ? text : "";
}

static bool is_one_of(const char *value, const char *const *allowed)
{
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(value, allowed[i]) == 0)
			return true;
	return false;
}

/* --- paths --------------------------------------------------------------------------------- */

/* No ".." element, one error however many there are. */
static void check_no_backsteps(const char *value, const char *field, struct field_errors *errors)
{
	for (const char *element = value;;) {
		size_t len = strcspn(element, "/");
		if (len == 2 && strncmp(element, "..", 2) == 0) {
			field_error_invalid_string(errors, field, value, "must not contain '..'");
			return;
		}
		if (!element[len])
			return;
		element += len + 1;
	}
}

/* A path inside a directory of the container (subPath, subPathExpr): relative, no "..". */
static void check_descending_path(const char *value, const char *field, struct field_errors *errors)
{
	if (value[0] == '/')
		field_error_invalid_string(errors, field, value, "must be a relative path");
	check_no_backsteps(value, field, errors);
}

/* A file of a configMap or secret volume: also not starting with "..", the prefix of the
 * kubelet's own entries there ("..data" and the timestamped directories it swaps). Kubernetes
 * reports both problems of "..". */
static void check_unreserved_path(const char *value, const char *field, struct field_errors *errors)
{
	check_descending_path(value, field, errors);
	if (strncmp(value, "..", 2) == 0 && strncmp(value, "../", 3) != 0)
		field_error_invalid_string(errors, field, value, "must not start with '..'");
}

/* --- volume sources ------------------------------------------------------------------------ */

static void check_file_mode(const json_t *mode, const char *field, struct field_errors *errors)
{
	if (json_is_integer(mode) &&
	    (json_integer_value(mode) < 0 || json_integer_value(mode) > MAX_FILE_MODE))
		field_error_invalid(errors, field, mode, FILE_MODE_MESSAGE);
}

static void check_items(const json_t *source, const char *path, struct field_errors *errors)
{
	size_t i;
	json_t *item;
	json_array_foreach (json_object_get(source, "items"), i, item) {
		char at[FIELD_SIZE], field[FIELD_SIZE];
		snprintf(at, sizeof(at), "%s.items[%zu]", path, i);
		if (!*string_field(item, "key"))
			field_error_required(errors, member(field, at, "key"), NULL);
		const char *file = string_field(item, "path");
		if (!*file)
			field_error_required(errors, member(field, at, "path"), NULL);
		check_unreserved_path(file, member(field, at, "path"), errors);
		check_file_mode(json_object_get(item, "mode"), member(field, at, "mode"), errors);
	}
}

/* configMap and secret: the object to read (its name under `name_key`), modes and files. */
static void check_object_files(const json_t *source, const char *path, const char *name_key,
			       struct field_errors *errors)
{
	char field[FIELD_SIZE];
	if (!*string_field(source, name_key))
		field_error_required(errors, member(field, path, name_key), NULL);
	check_file_mode(json_object_get(source, "defaultMode"), member(field, path, "defaultMode"),
			errors);
	check_items(source, path, errors);
}

static void check_secret(const json_t *source, const char *path, struct field_errors *errors)
{
	check_object_files(source, path, "secretName", errors);
}

static void check_config_map(const json_t *source, const char *path, struct field_errors *errors)
{
	check_object_files(source, path, "name", errors);
}

/* downwardAPI and projected: their files are not checked here, their default mode is. */
static void check_default_mode(const json_t *source, const char *path, struct field_errors *errors)
{
	char field[FIELD_SIZE];
	check_file_mode(json_object_get(source, "defaultMode"), member(field, path, "defaultMode"),
			errors);
}

/* Sorted, as Kubernetes lists the supported values. */
static const char *const host_path_types[] = {
    "",     "BlockDevice",  "CharDevice", "Directory", "DirectoryOrCreate",
    "File", "FileOrCreate", "Socket",     NULL};

static void check_host_path(const json_t *source, const char *path, struct field_errors *errors)
{
	char field[FIELD_SIZE];
	const char *host_path = string_field(source, "path");
	if (!*host_path) {
		field_error_required(errors, member(field, path, "path"), NULL);
		return;
	}
	check_no_backsteps(host_path, member(field, path, "path"), errors);
	json_t *type = json_object_get(source, "type");
	if (json_is_string(type) && !is_one_of(json_string_value(type), host_path_types))
		field_error_not_supported(errors, member(field, path, "type"), type,
					  host_path_types);
}

static void check_nfs(const json_t *source, const char *path, struct field_errors *errors)
{
	char field[FIELD_SIZE];
	if (!*string_field(source, "server"))
		field_error_required(errors, member(field, path, "server"), NULL);
	const char *export = string_field(source, "path");
	member(field, path, "path");
	if (!*export)
		field_error_required(errors, field, NULL);
	/* Kubernetes says this of an empty path too. */
	if (export[0] != '/')
		field_error_invalid_string(errors, field, export, "must be an absolute path");
}

/* Any medium passes: Kubernetes leaves an unknown one to the kubelet, which refuses to mount
 * it (ckube's agent does the same). */
static void check_empty_dir(const json_t *source, const char *path, struct field_errors *errors)
{
	char field[FIELD_SIZE];
	json_t *limit = json_object_get(source, "sizeLimit");
	struct quantity size;
	if (is_set(limit) && quantity_from_json(limit, &size, NULL) == 0 && size.milli < 0)
		field_error_forbidden(errors, member(field, path, "sizeLimit"),
				      "SizeLimit field must be a valid resource quantity");
}

typedef void check_source_fn(const json_t *source, const char *path, struct field_errors *errors);

/* Every volume source, in the order Kubernetes looks at them: of several, the first is checked
 * and each later one refused at a path of its own, where Kubernetes spells two of them
 * "cephFS" and "downwarAPI". Sources without a check are taken as they are. */
static const struct volume_source {
	const char *key;
	const char *extra_path;
	check_source_fn *check;
} volume_sources[] = {
    {"emptyDir", "emptyDir", check_empty_dir},
    {"hostPath", "hostPath", check_host_path},
    {"gitRepo", "gitRepo", NULL},
    {"gcePersistentDisk", "gcePersistentDisk", NULL},
    {"awsElasticBlockStore", "awsElasticBlockStore", NULL},
    {"secret", "secret", check_secret},
    {"nfs", "nfs", check_nfs},
    {"iscsi", "iscsi", NULL},
    {"glusterfs", "glusterfs", NULL},
    {"flocker", "flocker", NULL},
    {"persistentVolumeClaim", "persistentVolumeClaim", NULL},
    {"rbd", "rbd", NULL},
    {"cinder", "cinder", NULL},
    {"cephfs", "cephFS", NULL},
    {"quobyte", "quobyte", NULL},
    {"downwardAPI", "downwarAPI", check_default_mode},
    {"fc", "fc", NULL},
    {"flexVolume", "flexVolume", NULL},
    {"configMap", "configMap", check_config_map},
    {"azureFile", "azureFile", NULL},
    {"vsphereVolume", "vsphereVolume", NULL},
    {"photonPersistentDisk", "photonPersistentDisk", NULL},
    {"portworxVolume", "portworxVolume", NULL},
    {"azureDisk", "azureDisk", NULL},
    {"storageos", "storageos", NULL},
    {"projected", "projected", check_default_mode},
    {"scaleIO", "scaleIO", NULL},
    {"csi", "csi", NULL},
    {"ephemeral", "ephemeral", NULL},
    {"image", "image", NULL},
};

#define VOLUME_SOURCE_COUNT (sizeof(volume_sources) / sizeof(volume_sources[0]))

static bool has_source(const json_t *volume)
{
	for (size_t s = 0; s < VOLUME_SOURCE_COUNT; s++)
		if (is_set(json_object_get(volume, volume_sources[s].key)))
			return true;
	return false;
}

static void check_volume_source(const json_t *volume, const char *at, struct field_errors *errors)
{
	bool found = false;
	for (size_t s = 0; s < VOLUME_SOURCE_COUNT; s++) {
		const struct volume_source *kind = &volume_sources[s];
		const json_t *source = json_object_get(volume, kind->key);
		if (!is_set(source))
			continue;
		char field[FIELD_SIZE];
		if (found) {
			field_error_forbidden(errors, member(field, at, kind->extra_path),
					      "may not specify more than 1 volume type");
			continue;
		}
		found = true;
		if (kind->check)
			kind->check(source, member(field, at, kind->key), errors);
	}
	if (!found)
		field_error_required(errors, at, "must specify a volume type");
}

/* --- defaults and the volume list ---------------------------------------------------------- */

void pod_volume_set_defaults(json_t *volume)
{
	static const char *const with_mode[] = {"configMap", "secret", "downwardAPI", "projected"};
	if (!json_is_object(volume))
		return;
	if (!has_source(volume))
		json_object_set_new(volume, "emptyDir", json_object());
	for (size_t i = 0; i < sizeof(with_mode) / sizeof(with_mode[0]); i++) {
		json_t *source = json_object_get(volume, with_mode[i]);
		if (json_is_object(source))
			kind_default_integer(source, "defaultMode", DEFAULT_FILE_MODE);
	}
	json_t *host_path = json_object_get(volume, "hostPath");
	if (json_is_object(host_path))
		kind_default_string(host_path, "type", "");
}

json_t *pod_volumes_validate(const json_t *volumes, struct field_errors *errors)
{
	json_t *mountable = json_object();
	size_t i;
	json_t *volume;
	json_array_foreach (volumes, i, volume) {
		size_t before = field_errors_count(errors);
		char at[FIELD_SIZE], field[FIELD_SIZE];
		snprintf(at, sizeof(at), "spec.volumes[%zu]", i);
		check_volume_source(volume, at, errors);
		const char *name = string_field(volume, "name");
		member(field, at, "name");
		struct validation_messages why = {0};
		if (!*name)
			field_error_required(errors, field, NULL);
		else if (!validate_dns1123_label(name, &why))
			field_error_invalid_messages(errors, field, name, &why);
		if (json_object_get(mountable, name)) {
			_cleanup_json_ json_t *shown = json_string(name);
			field_error_duplicate(errors, field, shown);
		}
		if (field_errors_count(errors) == before)
			json_object_set(mountable, name, volume);
	}
	return mountable;
}

/* --- volume mounts ------------------------------------------------------------------------- */

static const char *const propagation_modes[] = {"Bidirectional", "HostToContainer", "None", NULL};
static const char *const recursive_read_only_modes[] = {"Disabled", "Enabled", "IfPossible", NULL};

static void check_sub_paths(const json_t *mount, const json_t *volume, const char *at,
			    const char *list_path, struct field_errors *errors)
{
	char field[FIELD_SIZE];
	const char *sub_path = string_field(mount, "subPath");
	const char *sub_path_expr = string_field(mount, "subPathExpr");
	if (is_set(json_object_get(volume, "image"))) {
		if (*sub_path)
			field_error_invalid_string(errors, member(field, at, "subPath"), sub_path,
						   "not allowed in image volume sources");
		if (*sub_path_expr)
			field_error_invalid_string(errors, member(field, at, "subPathExpr"),
						   sub_path_expr,
						   "not allowed in image volume sources");
	}
	if (*sub_path)
		check_descending_path(sub_path, member(field, list_path, "subPath"), errors);
	if (*sub_path_expr) {
		if (*sub_path)
			field_error_invalid_string(
			    errors, member(field, at, "subPathExpr"), sub_path_expr,
			    "subPathExpr and subPath are mutually exclusive");
		check_descending_path(sub_path_expr, member(field, list_path, "subPathExpr"),
				      errors);
	}
}

static void check_propagation(const json_t *mount, bool privileged, const char *list_path,
			      struct field_errors *errors)
{
	char field[FIELD_SIZE];
	json_t *propagation = json_object_get(mount, "mountPropagation");
	if (!json_is_string(propagation))
		return;
	const char *mode = json_string_value(propagation);
	member(field, list_path, "mountPropagation");
	if (!is_one_of(mode, propagation_modes))
		field_error_not_supported(errors, field, propagation, propagation_modes);
	if (strcmp(mode, "Bidirectional") == 0 && !privileged)
		field_error_forbidden(errors, field,
				      "Bidirectional mount propagation is available only to "
				      "privileged containers");
}

static void check_recursive_read_only(const json_t *mount, const char *list_path,
				      struct field_errors *errors)
{
	char field[FIELD_SIZE];
	json_t *recursive = json_object_get(mount, "recursiveReadOnly");
	if (!json_is_string(recursive))
		return;
	const char *mode = json_string_value(recursive);
	const char *propagation = json_string_value(json_object_get(mount, "mountPropagation"));
	member(field, list_path, "recursiveReadOnly");
	if (strcmp(mode, "Enabled") == 0 || strcmp(mode, "IfPossible") == 0) {
		if (!json_is_true(json_object_get(mount, "readOnly")))
			field_error_forbidden(errors, field,
					      "may only be specified when readOnly is true");
		if (propagation && strcmp(propagation, "None") != 0)
			field_error_forbidden(errors, field,
					      "may only be specified when mountPropagation is None "
					      "or not specified");
	} else if (strcmp(mode, "Disabled") != 0) {
		field_error_not_supported(errors, field, recursive, recursive_read_only_modes);
	}
}

/* Kubernetes reports problems of the sub-paths, the propagation and recursiveReadOnly under the
 * list's path without the mount's index ("volumeMounts.subPath"); so does ckube, for the same
 * messages. */
void pod_volume_mounts_validate(const json_t *container, const char *container_path,
				const json_t *mountable, struct field_errors *errors)
{
	char list_path[FIELD_SIZE];
	member(list_path, container_path, "volumeMounts");
	bool privileged = json_is_true(json_path(container, "securityContext.privileged"));
	_cleanup_json_ json_t *mount_paths = json_object();
	size_t i;
	json_t *mount;
	json_array_foreach (json_object_get(container, "volumeMounts"), i, mount) {
		char at[FIELD_SIZE], field[FIELD_SIZE];
		snprintf(at, sizeof(at), "%s[%zu]", list_path, i);
		const char *name = string_field(mount, "name");
		member(field, at, "name");
		if (!*name)
			field_error_required(errors, field, NULL);
		const json_t *volume = json_object_get(mountable, name);
		if (!volume) {
			_cleanup_json_ json_t *shown = json_string(name);
			field_error_not_found(errors, field, shown);
		}
		const char *mount_path = string_field(mount, "mountPath");
		member(field, at, "mountPath");
		if (!*mount_path)
			field_error_required(errors, field, NULL);
		if (json_object_get(mount_paths, mount_path))
			field_error_invalid_string(errors, field, mount_path, "must be unique");
		json_object_set_new(mount_paths, mount_path, json_true());
		check_sub_paths(mount, volume, at, list_path, errors);
		check_propagation(mount, privileged, list_path, errors);
		check_recursive_read_only(mount, list_path, errors);
	}
}
