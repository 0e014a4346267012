/* configMap and secret payloads: see object_payload.h. */
#include "volume/object_payload.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"

static const char *kind_word(const struct volume_spec *volume)
{
	return volume->kind == VOLUME_SECRET ? "secret" : "configmap";
}

static void add_file(struct payload *payload, const char *path, int mode)
{
	struct payload_file *files = realloc(payload->files, (payload->count + 1) * sizeof(*files));

	if (!files)
		abort();
	payload->files = files;
	files[payload->count++] = (struct payload_file){.path = strdup(path), .mode = mode};
}

/* The value of `key` appended to `out`: 1 when found, 0 when the object lacks it. */
static int key_value(const struct volume_spec *volume, const json_t *object, const char *key,
		     struct buf *out, struct ck_error *err)
{
	const json_t *value = json_object_get(json_object_get(object, "data"), key);
	bool base64 = volume->kind == VOLUME_SECRET;

	if (!value && volume->kind == VOLUME_CONFIG_MAP) {
		value = json_object_get(json_object_get(object, "binaryData"), key);
		base64 = true;
	}
	if (!json_is_string(value))
		return 0;
	if (!base64) {
		buf_append(out, json_string_value(value), json_string_length(value));
		return 1;
	}
	if (base64_decode(json_string_value(value), json_string_length(value), out, err) < 0)
		return ck_error_prefix(err, "%s \"%s\": key %s", kind_word(volume),
				       volume->object.name, key);
	return 1;
}

static int add_every_key(const struct volume_spec *volume, const json_t *object,
			 struct payload *payload, struct ck_error *err)
{
	static const char *const sections[] = {"data", "binaryData"};

	for (size_t s = 0; s < 2; s++) {
		const char *key;
		const json_t *value;

		if (s == 1 && volume->kind == VOLUME_SECRET)
			break;
		json_object_foreach ((json_t *)json_object_get(object, sections[s]), key, value) {
			int r;

			if (!volume_path_is_local(key) || strchr(key, '/'))
				return ck_error_set(err, EINVAL,
						    "%s \"%s\": key \"%s\" is no file name",
						    kind_word(volume), volume->object.name, key);
			add_file(payload, key, volume->object.default_mode);
			r = key_value(volume, object, key, &payload->files[payload->count - 1].data,
				      err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int add_items(const struct volume_spec *volume, const json_t *object,
		     struct payload *payload, struct ck_error *err)
{
	for (size_t i = 0; i < volume->object.item_count; i++) {
		const struct volume_item *item = &volume->object.items[i];
		struct buf value = {0};
		int r = key_value(volume, object, item->key, &value, err);

		if (r < 0) {
			buf_free(&value);
			return r;
		}
		if (r == 0) {
			buf_free(&value);
			if (volume->object.optional)
				continue;
			return ck_error_set(
			    err, ENOENT, "%s references non-existent %s key: %s", kind_word(volume),
			    volume->kind == VOLUME_SECRET ? "secret" : "config", item->key);
		}
		add_file(payload, item->path,
			 item->mode >= 0 ? item->mode : volume->object.default_mode);
		payload->files[payload->count - 1].data = value;
	}
	return 0;
}

int payload_from_object(const struct volume_spec *volume, const json_t *object, struct payload *out,
			struct ck_error *err)
{
	int r;

	*out = (struct payload){0};
	if (!object) {
		if (volume->object.optional)
			return 0;
		return ck_error_set(err, ENOENT, "%s \"%s\" not found", kind_word(volume),
				    volume->object.name);
	}
	r = volume->object.item_count ? add_items(volume, object, out, err)
				      : add_every_key(volume, object, out, err);
	if (r < 0)
		payload_free(out);
	return r;
}

void payload_free(struct payload *payload)
{
	for (size_t i = 0; i < payload->count; i++) {
		free(payload->files[i].path);
		buf_free(&payload->files[i].data);
	}
	free(payload->files);
	*payload = (struct payload){0};
}
