#include "kubectl/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/yaml.h"

/* More than this in one manifest file is not a manifest. */
#define MANIFEST_MAX_BYTES (64u << 20)

static int read_stream(FILE *in, const char *source, struct buf *text, struct ck_error *err)
{
	char chunk[16384];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
		if (text->len + n > MANIFEST_MAX_BYTES)
			return ck_error_set(err, EFBIG,
					    "error reading \"%s\": larger than %u bytes", source,
					    MANIFEST_MAX_BYTES);
		buf_append(text, chunk, n);
	}
	if (ferror(in))
		return ck_error_errno(err, EIO, "error reading \"%s\"", source);
	return 0;
}

static void add_object(struct manifest *m, const char *source, int document, json_t *object)
{
	struct manifest_object *grown = realloc(m->objects, (m->count + 1) * sizeof(*grown));
	char *source_copy = strdup(source);
	if (!grown || !source_copy)
		abort();
	m->objects = grown;
	m->objects[m->count++] = (struct manifest_object){
	    .source = source_copy, .document = document, .object = json_incref(object)};
}

static bool is_list(const json_t *doc)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	return kind && strcmp(kind, "List") == 0 && json_is_array(json_object_get(doc, "items"));
}

static int parse_source(const char *source, const struct buf *text, struct manifest *m,
			struct ck_error *err)
{
	_cleanup_json_ json_t *docs = NULL;
	if (yaml_parse_documents(text->data ? text->data : "", text->len, &docs, err) < 0)
		return ck_error_prefix(err, "error parsing \"%s\"", source);
	size_t i;
	json_t *doc;
	json_array_foreach (docs, i, doc) {
		int document = (int)i + 1;
		if (!is_list(doc)) {
			add_object(m, source, document, doc);
			continue;
		}
		size_t j;
		json_t *item;
		json_array_foreach (json_object_get(doc, "items"), j, item)
			add_object(m, source, document, item);
	}
	return 0;
}

static int read_file(const char *path, struct manifest *m, struct ck_error *err)
{
	_cleanup_fclose_ FILE *in = fopen(path, "re");
	if (!in)
		return ck_error_errno(err, errno, "the path \"%s\" cannot be read", path);
	_cleanup_buf_ struct buf text = {0};
	int ret = read_stream(in, path, &text, err);
	return ret < 0 ? ret : parse_source(path, &text, m, err);
}

static bool is_manifest_name(const char *name)
{
	static const char *const suffixes[] = {".yaml", ".yml", ".json"};
	size_t len = strlen(name);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t suffix_len = strlen(suffixes[i]);
		if (len > suffix_len && strcmp(name + len - suffix_len, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* The directory's manifest files in name order (not its subdirectories), as kubectl reads them. */
static int read_directory(const char *path, struct manifest *m, struct ck_error *err)
{
	DIR *dir = opendir(path);
	if (!dir)
		return ck_error_errno(err, errno, "the path \"%s\" cannot be read", path);
	char **names = NULL;
	size_t count = 0;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		if (entry->d_name[0] == '.' || !is_manifest_name(entry->d_name))
			continue;
		char **grown = realloc(names, (count + 1) * sizeof(*names));
		if (!grown)
			abort();
		names = grown;
		if (asprintf(&names[count++], "%s/%s", path, entry->d_name) < 0)
			abort();
	}
	closedir(dir);
	qsort(names, count, sizeof(*names), compare_names);
	int ret = 0;
	for (size_t i = 0; i < count && ret == 0; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			ret = read_file(names[i], m, err);
	}
	free_names(names, count);
	return ret;
}

int manifest_read(const char *const *sources, size_t count, FILE *stdin_stream,
		  struct manifest *manifest, struct ck_error *err)
{
	*manifest = (struct manifest){0};
	int ret = 0;
	for (size_t i = 0; i < count && ret == 0; i++) {
		struct stat st;
		if (strcmp(sources[i], "-") == 0) {
			_cleanup_buf_ struct buf text = {0};
			ret = read_stream(stdin_stream, "STDIN", &text, err);
			if (ret == 0)
				ret = parse_source("STDIN", &text, manifest, err);
		} else if (stat(sources[i], &st) < 0) {
			ret =
			    ck_error_set(err, errno, "the path \"%s\" does not exist", sources[i]);
		} else if (S_ISDIR(st.st_mode)) {
			ret = read_directory(sources[i], manifest, err);
		} else {
			ret = read_file(sources[i], manifest, err);
		}
	}
	if (ret < 0)
		manifest_free(manifest);
	return ret;
}

void manifest_free(struct manifest *manifest)
{
	for (size_t i = 0; i < manifest->count; i++) {
		free(manifest->objects[i].source);
		json_decref(manifest->objects[i].object);
	}
	free(manifest->objects);
	*manifest = (struct manifest){0};
}

/* A field that must be a non-empty string; appends the problem when it is not. */
static const char *required_string(const struct manifest_object *o, const json_t *parent,
				   const char *key, const char *field, struct buf *problems)
{
	const json_t *value = json_object_get(parent, key);
	if (json_is_string(value) && *json_string_value(value))
		return json_string_value(value);
	buf_printf(problems, "error validating \"%s\": document %d: %s %s\n", o->source,
		   o->document, field,
		   value && !json_is_null(value) ? "must be a string" : "not set");
	return NULL;
}

static const char *object_name(struct manifest_object *o, const json_t *metadata,
			       bool allow_generate_name, struct buf *problems)
{
	const json_t *name = json_object_get(metadata, "name");
	const char *generate = json_string_value(json_object_get(metadata, "generateName"));
	if (!name && allow_generate_name && generate && *generate)
		return "";
	return required_string(o, metadata, "name", "metadata.name", problems);
}

/* Where a namespaced object goes: its own namespace, which must agree with -n, else -n or the
 * context's. */
static void place(struct kubectl *k, struct manifest_object *o, json_t *metadata,
		  struct buf *problems)
{
	const char *own = json_string_value(json_object_get(metadata, "namespace"));
	if (own && *own && k->namespace_from_flag && strcmp(own, k->namespace) != 0) {
		buf_printf(problems,
			   "the namespace from the provided object \"%s\" does not match the "
			   "namespace \"%s\". You must pass '--namespace=%s' to perform this "
			   "operation.\n",
			   own, k->namespace, own);
		return;
	}
	if (!own || !*own)
		json_object_set_new(metadata, "namespace", json_string(k->namespace));
	o->namespace = json_string_value(json_object_get(metadata, "namespace"));
}

static int check_object(struct kubectl *k, struct manifest_object *o, bool allow_generate_name,
			struct buf *problems, struct ck_error *err)
{
	size_t before = problems->len;
	if (!json_is_object(o->object)) {
		buf_printf(problems, "error validating \"%s\": document %d: expected a map\n",
			   o->source, o->document);
		return 0;
	}
	const char *api_version =
	    required_string(o, o->object, "apiVersion", "apiVersion", problems);
	const char *kind = required_string(o, o->object, "kind", "kind", problems);
	json_t *metadata = json_object_get(o->object, "metadata");
	if (metadata && !json_is_object(metadata)) {
		buf_printf(problems,
			   "error validating \"%s\": document %d: metadata must be a map\n",
			   o->source, o->document);
		return 0;
	}
	const char *name = object_name(o, metadata, allow_generate_name, problems);
	const json_t *own_namespace = json_object_get(metadata, "namespace");
	if (own_namespace && !json_is_string(own_namespace))
		buf_printf(problems,
			   "error validating \"%s\": document %d: metadata.namespace must be a "
			   "string\n",
			   o->source, o->document);
	if (problems->len != before || !api_version || !kind || !name)
		return 0;
	o->name = *name ? name : NULL;

	struct ck_error lookup = {0};
	int ret = discovery_by_kind(k, api_version, kind, &o->resource, &lookup);
	if (ret == -ENOENT) {
		const char *ns = json_string_value(own_namespace);
		buf_printf(problems,
			   "resource mapping not found for name: \"%s\" namespace: \"%s\" from "
			   "\"%s\": %s\n",
			   name, ns ? ns : "", o->source, lookup.message);
		return 0;
	}
	if (ret < 0) {
		*err = lookup;
		return ret;
	}
	if (o->resource.namespaced)
		place(k, o, metadata, problems);
	return 0;
}

int manifest_check(struct kubectl *k, struct manifest *manifest, bool allow_generate_name,
		   struct buf *problems, struct ck_error *err)
{
	int count = 0;
	for (size_t i = 0; i < manifest->count; i++) {
		size_t before = problems->len;
		int ret =
		    check_object(k, &manifest->objects[i], allow_generate_name, problems, err);
		if (ret < 0)
			return ret;
		count += problems->len != before;
	}
	return count;
}
