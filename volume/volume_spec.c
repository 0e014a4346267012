/* Typed volumes from spec.volumes: see volume_spec.h. */
#include "volume/volume_spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/quantity.h"
#include "lib/validation.h"

static const char *const host_path_types[] = {
    [HOST_PATH_UNSET] = "",
    [HOST_PATH_DIRECTORY_OR_CREATE] = "DirectoryOrCreate",
    [HOST_PATH_DIRECTORY] = "Directory",
    [HOST_PATH_FILE_OR_CREATE] = "FileOrCreate",
    [HOST_PATH_FILE] = "File",
    [HOST_PATH_SOCKET] = "Socket",
    [HOST_PATH_CHAR_DEVICE] = "CharDevice",
    [HOST_PATH_BLOCK_DEVICE] = "BlockDevice",
};

/* Every source the API knows, so that an unsupported one is named rather than missing. */
static const char *const other_sources[] = {
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
    "csi",
    "ephemeral",
    "image",
    "gitRepo",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "azureDisk",
    "vsphereVolume",
    "quobyte",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "gcePersistentDisk",
    "awsElasticBlockStore",
};

const char *host_path_type_name(enum host_path_type type)
{
	return host_path_types[type];
}

bool volume_path_is_local(const char *path)
{
	/* A leading ".." is the atomic writer's (..data), as Kubernetes reserves it. */
	if (!path || !*path || path[0] == '/' || strncmp(path, "..", 2) == 0)
		return false;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += len;
		p += *p == '/';
	}
	return true;
}

static char *dup_string(const json_t *object, const char *key)
{
	const char *value = json_string_value(json_object_get(object, key));

	return value ? strdup(value) : NULL;
}

static int read_host_path(struct volume_spec *v, const json_t *source, struct ck_error *err)
{
	const char *type = json_string_value(json_object_get(source, "type"));

	v->host_path.path = dup_string(source, "path");
	if (!v->host_path.path || v->host_path.path[0] != '/')
		return ck_error_set(err, EINVAL, "hostPath.path must be an absolute path");
	for (size_t i = 0; type && i < sizeof(host_path_types) / sizeof(host_path_types[0]); i++)
		if (strcmp(type, host_path_types[i]) == 0) {
			v->host_path.type = (enum host_path_type)i;
			return 0;
		}
	if (type)
		return ck_error_set(err, EINVAL, "hostPath.type: unsupported value \"%s\"", type);
	return 0;
}

static int read_empty_dir(struct volume_spec *v, const json_t *source, struct ck_error *err)
{
	const char *medium = json_string_value(json_object_get(source, "medium"));
	const json_t *limit = json_object_get(source, "sizeLimit");
	struct quantity size;

	v->empty_dir.size_limit = -1;
	if (medium && *medium && strcmp(medium, "Memory") != 0)
		return ck_error_set(err, EINVAL, "emptyDir.medium: unsupported value \"%s\"",
				    medium);
	v->empty_dir.memory = medium && *medium;
	if (!limit || json_is_null(limit))
		return 0;
	if (quantity_from_json(limit, &size, err) < 0)
		return ck_error_prefix(err, "emptyDir.sizeLimit");
	if (size.value < 0)
		return ck_error_set(err, EINVAL, "emptyDir.sizeLimit must not be negative");
	v->empty_dir.size_limit = size.value;
	return 0;
}

static int read_nfs(struct volume_spec *v, const json_t *source, struct ck_error *err)
{
	v->nfs.server = dup_string(source, "server");
	v->nfs.path = dup_string(source, "path");
	v->nfs.read_only = json_is_true(json_object_get(source, "readOnly"));
	if (!v->nfs.server || !*v->nfs.server)
		return ck_error_set(err, EINVAL, "nfs.server is required");
	if (!v->nfs.path || v->nfs.path[0] != '/')
		return ck_error_set(err, EINVAL, "nfs.path must be an absolute path");
	return 0;
}

static int read_mode(const json_t *value, int fallback, const char *field, int *out,
		     struct ck_error *err)
{
	if (!value) {
		*out = fallback;
		return 0;
	}
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    json_integer_value(value) > 0777)
		return ck_error_set(err, EINVAL, "%s must be a number between 0 and 0777", field);
	*out = (int)json_integer_value(value);
	return 0;
}

static int read_object(struct volume_spec *v, const json_t *source, const char *name_key,
		       struct ck_error *err)
{
	const json_t *items = json_object_get(source, "items");
	size_t i;
	const json_t *item;
	int r;

	v->object.name = dup_string(source, name_key);
	v->object.optional = json_is_true(json_object_get(source, "optional"));
	if (!v->object.name || !*v->object.name)
		return ck_error_set(err, EINVAL, "%s.%s is required", v->source_name, name_key);
	r = read_mode(json_object_get(source, "defaultMode"), 0644, "defaultMode",
		      &v->object.default_mode, err);
	if (r < 0)
		return r;
	v->object.item_count = json_array_size(items);
	v->object.items = calloc(v->object.item_count + 1, sizeof(*v->object.items));
	if (!v->object.items)
		abort();
	json_array_foreach (items, i, item) {
		struct volume_item *it = &v->object.items[i];
		char field[64];

		it->key = dup_string(item, "key");
		it->path = dup_string(item, "path");
		snprintf(field, sizeof(field), "items[%zu].mode", i);
		if (!it->key || !*it->key)
			return ck_error_set(err, EINVAL, "items[%zu].key is required", i);
		if (!volume_path_is_local(it->path))
			return ck_error_set(
			    err, EINVAL, "items[%zu].path must be a relative path without '..'", i);
		r = read_mode(json_object_get(item, "mode"), -1, field, &it->mode, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_source(struct volume_spec *v, const json_t *volume, struct ck_error *err)
{
	static const struct {
		const char *field;
		enum volume_kind kind;
	} supported[] = {{"hostPath", VOLUME_HOST_PATH},
			 {"emptyDir", VOLUME_EMPTY_DIR},
			 {"nfs", VOLUME_NFS},
			 {"configMap", VOLUME_CONFIG_MAP},
			 {"secret", VOLUME_SECRET}};
	const json_t *source;

	for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++) {
		if (!(source = json_object_get(volume, supported[i].field)))
			continue;
		v->kind = supported[i].kind;
		v->source_name = strdup(supported[i].field);
		switch (v->kind) {
		case VOLUME_HOST_PATH:
			return read_host_path(v, source, err);
		case VOLUME_EMPTY_DIR:
			return read_empty_dir(v, source, err);
		case VOLUME_NFS:
			return read_nfs(v, source, err);
		case VOLUME_CONFIG_MAP:
			return read_object(v, source, "name", err);
		case VOLUME_SECRET:
			return read_object(v, source, "secretName", err);
		case VOLUME_UNSUPPORTED:
			break;
		}
	}
	v->kind = VOLUME_UNSUPPORTED;
	for (size_t i = 0; i < sizeof(other_sources) / sizeof(other_sources[0]); i++)
		if (json_object_get(volume, other_sources[i])) {
			v->source_name = strdup(other_sources[i]);
			return 0;
		}
	return ck_error_set(err, EINVAL, "no volume source");
}

int volume_specs_parse(const json_t *volumes, struct volume_spec **out, size_t *count,
		       struct ck_error *err)
{
	size_t n = json_array_size(volumes), i;
	struct volume_spec *specs = calloc(n + 1, sizeof(*specs));
	const json_t *volume;

	if (!specs)
		abort();
	json_array_foreach (volumes, i, volume) {
		struct volume_spec *v = &specs[i];
		int r;

		v->name = dup_string(volume, "name");
		if (!v->name || !*v->name) {
			volume_specs_free(specs, n);
			return ck_error_set(err, EINVAL, "volume %zu: no name", i);
		}
		/* The name becomes a directory on the node: a static pod's file has not been
		 * through the API's validation. */
		if (!validate_dns1123_label(v->name, NULL)) {
			r = ck_error_set(err, EINVAL, "volume \"%s\": the name must be a DNS label",
					 v->name);
			volume_specs_free(specs, n);
			return r;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(specs[j].name, v->name) == 0) {
				r = ck_error_set(err, EINVAL, "volume \"%s\": named twice",
						 v->name);
				volume_specs_free(specs, n);
				return r;
			}
		r = read_source(v, volume, err);
		if (r < 0) {
			ck_error_prefix(err, "volume \"%s\"", v->name);
			volume_specs_free(specs, n);
			return r;
		}
	}
	*out = specs;
	*count = n;
	return 0;
}

void volume_specs_free(struct volume_spec *specs, size_t count)
{
	if (!specs)
		return;
	for (size_t i = 0; i < count; i++) {
		struct volume_spec *v = &specs[i];
		free(v->name);
		free(v->source_name);
		free(v->host_path.path);
		free(v->nfs.server);
		free(v->nfs.path);
		free(v->object.name);
		for (size_t j = 0; v->object.items && j < v->object.item_count; j++) {
			free(v->object.items[j].key);
			free(v->object.items[j].path);
		}
		free(v->object.items);
	}
	free(specs);
}

const struct volume_spec *volume_specs_find(const struct volume_spec *specs, size_t count,
					    const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(specs[i].name, name) == 0)
			return &specs[i];
	return NULL;
}
