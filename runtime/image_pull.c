#include "runtime/image_pull.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "runtime/image_ref.h"
#include "runtime/registry_client.h"

/* Bounds on what a manifest may ask for. Overlay stacks far fewer layers than this. */
#define MAX_LAYERS 256
#define CONFIG_MAX_BYTES (16 << 20)
#define LAYER_MAX_BYTES (INT64_C(1) << 40)
/* A blob whose transfer broke is fetched again this many times in all. */
#define BLOB_ATTEMPTS 3

struct descriptor {
	char *media_type;
	char *digest;
	int64_t size;
};

/* The parts of a platform manifest and its config a pull needs. */
struct pull_plan {
	struct descriptor config;
	struct image_layer *layers;
	size_t layer_count;
	json_t *container_config;
};

static void plan_clear(struct pull_plan *plan)
{
	free(plan->config.media_type);
	free(plan->config.digest);
	for (size_t i = 0; i < plan->layer_count; i++) {
		free(plan->layers[i].digest);
		free(plan->layers[i].diff_id);
		free(plan->layers[i].media_type);
	}
	free(plan->layers);
	json_decref(plan->container_config);
	memset(plan, 0, sizeof(*plan));
}

static int read_descriptor(const json_t *obj, int64_t max_size, struct descriptor *out,
			   const char *what, struct ck_error *err)
{
	const char *media_type = json_string_value(json_object_get(obj, "mediaType"));
	const char *digest = json_string_value(json_object_get(obj, "digest"));
	const json_t *size = json_object_get(obj, "size");
	if (!media_type || !image_digest_valid(digest))
		return ck_error_set(err, EPROTO, "%s: no media type or no sha256 digest", what);
	if (!json_is_integer(size) || json_integer_value(size) < 0 ||
	    json_integer_value(size) > max_size)
		return ck_error_set(err, EPROTO, "%s: size missing or out of bounds", what);
	out->media_type = strdup(media_type);
	out->digest = strdup(digest);
	out->size = json_integer_value(size);
	if (!out->media_type || !out->digest)
		return ck_error_set(err, ENOMEM, "%s: out of memory", what);
	return 0;
}

static int read_manifest(const json_t *manifest, struct pull_plan *plan, struct ck_error *err)
{
	const json_t *layers = json_object_get(manifest, "layers");
	if (json_integer_value(json_object_get(manifest, "schemaVersion")) != 2)
		return ck_error_set(err, EPROTO, "manifest: schemaVersion is not 2");
	if (!json_is_array(layers) || json_array_size(layers) > MAX_LAYERS)
		return ck_error_set(err, EPROTO, "manifest: layers missing or more than %d",
				    MAX_LAYERS);
	int ret = read_descriptor(json_object_get(manifest, "config"), CONFIG_MAX_BYTES,
				  &plan->config, "manifest: config", err);
	if (ret < 0)
		return ret;
	plan->layers = calloc(json_array_size(layers) + 1, sizeof(*plan->layers));
	if (!plan->layers)
		return ck_error_set(err, ENOMEM, "manifest: out of memory");
	size_t i;
	const json_t *entry;
	json_array_foreach (layers, i, entry) {
		char what[48];
		snprintf(what, sizeof(what), "manifest: layer %zu", i);
		struct descriptor layer = {0};
		ret = read_descriptor(entry, LAYER_MAX_BYTES, &layer, what, err);
		plan->layers[i].digest = layer.digest;
		plan->layers[i].media_type = layer.media_type;
		plan->layers[i].size = layer.size;
		plan->layer_count = i + 1;
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The config names the uncompressed digest of each layer and says how to run the image. */
static int read_config(const char *text, size_t len, struct pull_plan *plan, struct ck_error *err)
{
	json_error_t json_err;
	_cleanup_json_ json_t *config = json_loadb(text, len, 0, &json_err);
	if (!json_is_object(config))
		return ck_error_set(err, EPROTO, "config %s: not a JSON object",
				    plan->config.digest);
	const char *os = json_string_value(json_object_get(config, "os"));
	const char *arch = json_string_value(json_object_get(config, "architecture"));
	if ((os && strcmp(os, "linux") != 0) || (arch && strcmp(arch, "amd64") != 0))
		return ck_error_set(err, ENOEXEC,
				    "config %s: the image is for %.40s/%.40s, not linux/amd64",
				    plan->config.digest, os ? os : "linux", arch ? arch : "amd64");
	const json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	if (!json_is_array(diff_ids) || json_array_size(diff_ids) != plan->layer_count)
		return ck_error_set(err, EPROTO,
				    "config %s: rootfs.diff_ids does not match the %zu layers",
				    plan->config.digest, plan->layer_count);
	for (size_t i = 0; i < plan->layer_count; i++) {
		const char *diff_id = json_string_value(json_array_get(diff_ids, i));
		if (!image_digest_valid(diff_id))
			return ck_error_set(err, EPROTO,
					    "config %s: diff_ids[%zu] is not a sha256 digest",
					    plan->config.digest, i);
		if (!(plan->layers[i].diff_id = strdup(diff_id)))
			return ck_error_set(err, ENOMEM, "config: out of memory");
	}
	const json_t *run = json_object_get(config, "config");
	plan->container_config = json_is_object(run) ? json_deep_copy(run) : json_object();
	if (!plan->container_config)
		return ck_error_set(err, ENOMEM, "config: out of memory");
	return 0;
}

static int store_bytes(struct image_store *store, const char *digest, const void *data, size_t len,
		       struct ck_error *err)
{
	struct blob_writer *writer;
	int ret = image_store_blob_begin(store, digest, (int64_t)len, &writer, err);
	if (ret < 0)
		return ret;
	if ((ret = blob_writer_write(writer, data, len, err)) < 0) {
		blob_writer_abort(writer);
		return ret;
	}
	return blob_writer_commit(writer, err);
}

static void report(const struct pull_progress *progress, const char *digest, int64_t done,
		   int64_t total)
{
	if (progress && progress->update)
		progress->update(progress->ctx, digest, done, total);
}

/* The registry said no (or the content is not acceptable): fetching again will not help. */
static bool final_failure(int code)
{
	return code == ENOENT || code == EACCES || code == EFBIG || code == EINVAL ||
	       code == ENOSPC;
}

static int download_blob(struct image_store *store, struct registry_client *client,
			 const char *digest, int64_t size, const struct pull_progress *progress,
			 struct ck_error *err)
{
	int ret = 0;
	for (int attempt = 0; attempt < BLOB_ATTEMPTS; attempt++) {
		struct blob_writer *writer;
		if ((ret = image_store_blob_begin(store, digest, size, &writer, err)) < 0)
			return ret;
		ret = registry_fetch_blob(client, digest, size, writer, progress, err);
		if (ret < 0) {
			blob_writer_abort(writer);
		} else {
			ret = blob_writer_commit(writer, err);
		}
		if (ret == 0 || final_failure(-ret))
			return ret;
	}
	return ret;
}

/* Under the blob's lock, so that a second puller (thread or process) waits here and then finds
 * the blob, and the layer, already in the store. */
static int fetch_content(struct image_store *store, struct registry_client *client,
			 const char *digest, int64_t size, const struct image_layer *layer,
			 const struct pull_progress *progress, struct ck_error *err)
{
	_cleanup_close_ int lock = image_store_lock_digest(store, digest, err);
	if (lock < 0)
		return lock;
	_cleanup_free_ char *blob = image_store_blob_path(store, digest);
	int ret = 0;
	if (blob)
		report(progress, digest, size, size);
	else
		ret = download_blob(store, client, digest, size, progress, err);
	if (ret < 0 || !layer)
		return ret;
	_cleanup_free_ char *unpacked = image_store_layer_path(store, layer->diff_id);
	if (unpacked)
		return 0;
	return image_store_unpack_layer(store, layer->digest, layer->media_type, layer->diff_id,
					err);
}

static int load_config(struct image_store *store, struct registry_client *client,
		       struct pull_plan *plan, const struct pull_progress *progress,
		       struct ck_error *err)
{
	int ret = fetch_content(store, client, plan->config.digest, plan->config.size, NULL,
				progress, err);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *path = image_store_blob_path(store, plan->config.digest);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (!path)
		return ck_error_set(err, ENOENT, "config %s: gone from the store",
				    plan->config.digest);
	if ((ret = fs_read_file(path, &text, &len, err)) < 0)
		return ret;
	return read_config(text, len, plan, err);
}

static int save_record(struct image_store *store, const struct image_ref *ref, const char *name,
		       const char *named_digest, const struct registry_manifest *manifest,
		       struct pull_plan *plan, struct ck_error *err)
{
	_cleanup_free_ char *by_digest = NULL;
	if (!ref->digest &&
	    asprintf(&by_digest, "%s/%s@%s", ref->registry, ref->repository, named_digest) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	char *names[] = {(char *)name, by_digest};
	struct image_record record = {
	    .id = plan->config.digest,
	    .manifest_digest = (char *)manifest->digest,
	    .names = names,
	    .name_count = by_digest ? 2 : 1,
	    .layers = plan->layers,
	    .layer_count = plan->layer_count,
	    .size = plan->config.size,
	    .config = plan->container_config,
	};
	for (size_t i = 0; i < plan->layer_count; i++)
		record.size += plan->layers[i].size;
	return image_store_put(store, &record, err);
}

static int pull_once(struct image_store *store, struct registry_client *client,
		     const struct image_ref *ref, const char *name,
		     const struct pull_progress *progress, struct ck_error *err)
{
	char named_digest[IMAGE_DIGEST_LENGTH + 1];
	struct registry_manifest manifest;
	int ret = registry_resolve(client, ref->digest ? ref->digest : ref->tag, named_digest,
				   &manifest, err);
	if (ret < 0)
		return ret;
	struct pull_plan plan = {0};
	if ((ret = read_manifest(manifest.json, &plan, err)) < 0 ||
	    (ret = load_config(store, client, &plan, progress, err)) < 0)
		goto out;
	for (size_t i = 0; i < plan.layer_count; i++) {
		const struct image_layer *layer = &plan.layers[i];
		ret =
		    fetch_content(store, client, layer->digest, layer->size, layer, progress, err);
		if (ret < 0)
			goto out;
	}
	if ((ret = store_bytes(store, manifest.digest, manifest.body, manifest.len, err)) < 0)
		goto out;
	/* Missing content here means a removal took it after it was fetched. */
	if ((ret = save_record(store, ref, name, named_digest, &manifest, &plan, err)) == -ENOENT)
		ret = -ESTALE;
out:
	plan_clear(&plan);
	registry_manifest_clear(&manifest);
	return ret;
}

static int pull_from(struct image_store *store, const struct registry_endpoint *endpoint,
		     const struct image_ref *ref, const char *name,
		     const struct pull_progress *progress, struct ck_error *err)
{
	struct registry_client *client;
	int ret = registry_client_new(endpoint, ref->repository, &client, err);
	if (ret < 0)
		return ret;
	ret = registry_ping(client, err);
	if (ret == 0)
		ret = pull_once(store, client, ref, name, progress, err);
	if (ret == -ESTALE)
		ret = pull_once(store, client, ref, name, progress, err);
	registry_client_free(client);
	return ret;
}

int image_pull(struct image_store *store, struct registries *registries, const char *reference,
	       bool always, const struct pull_progress *progress, struct image_record **out,
	       struct ck_error *err)
{
	*out = NULL;
	struct image_ref ref;
	int ret = image_ref_parse(reference, &ref, err);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *name = image_ref_string(&ref);
	if (name && !always && image_store_find(store, name, out, NULL) == 0) {
		image_ref_clear(&ref);
		return 0;
	}
	size_t count = 0;
	const struct registry_endpoint *endpoints =
	    name ? registries_endpoints(registries, ref.registry, &count) : NULL;
	if (!endpoints) {
		image_ref_clear(&ref);
		return ck_error_set(err, ENOMEM, "pull %s: out of memory", reference);
	}
	/* Each endpoint's failure is kept: a mirror's "manifest unknown" matters more than the
	 * upstream being unreachable after it. */
	struct buf failures _cleanup_buf_ = {0};
	int first_failure = 0;
	for (size_t i = 0; i < count; i++) {
		struct ck_error attempt = {0};
		ret = pull_from(store, &endpoints[i], &ref, name, progress, &attempt);
		if (ret == 0)
			break;
		if (!first_failure)
			first_failure = -ret;
		if (count > 1)
			buf_printf(&failures, "%s%s: ", i ? "; " : "", endpoints[i].url);
		buf_puts(&failures, attempt.message);
	}
	image_ref_clear(&ref);
	/* EINVAL is kept for references that do not parse (InvalidImageName). */
	if (ret < 0)
		return ck_error_set(err, first_failure == EINVAL ? EIO : first_failure,
				    "pull %s: %s", name, failures.data ? failures.data : "failed");
	ret = image_store_find(store, name, out, err);
	return ret < 0 ? ck_error_prefix(err, "pull %s", name) : 0;
}

/* --- the terminal reporter -------------------------------------------------------------------
 */

struct progress_line {
	char digest[IMAGE_DIGEST_LENGTH + 1];
	int64_t done;
	int64_t total;
	bool present; /* the store had it */
};

struct terminal_progress {
	FILE *out;
	bool tty;
	pthread_mutex_t lock;
	struct progress_line *lines;
	size_t count;
	size_t capacity;
	struct timespec last_draw;
};

#define REDRAW_INTERVAL_NS 100000000L

static void human_size(int64_t bytes, char *out, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double value = (double)bytes;
	size_t unit = 0;
	while (value >= 1024 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1024;
		unit++;
	}
	if (unit == 0)
		snprintf(out, size, "%lld B", (long long)bytes);
	else
		snprintf(out, size, "%.1f %s", value, units[unit]);
}

static void line_text(const struct progress_line *line, char *out, size_t size)
{
	char done[32], total[32];
	const char *hex = line->digest + strlen("sha256:");
	human_size(line->done, done, sizeof(done));
	human_size(line->total, total, sizeof(total));
	if (line->present)
		snprintf(out, size, "%.12s: already present", hex);
	else if (line->total >= 0 && line->done >= line->total)
		snprintf(out, size, "%.12s: done %s", hex, total);
	else if (line->total >= 0)
		snprintf(out, size, "%.12s: downloading %s / %s", hex, done, total);
	else
		snprintf(out, size, "%.12s: downloading %s", hex, done);
}

static bool redraw_due(struct terminal_progress *tp)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long elapsed = (now.tv_sec - tp->last_draw.tv_sec) * 1000000000L +
		       (now.tv_nsec - tp->last_draw.tv_nsec);
	if (elapsed < REDRAW_INTERVAL_NS)
		return false;
	tp->last_draw = now;
	return true;
}

static struct progress_line *find_line(struct terminal_progress *tp, const char *digest,
				       bool *is_new)
{
	for (size_t i = 0; i < tp->count; i++) {
		if (strcmp(tp->lines[i].digest, digest) == 0) {
			*is_new = false;
			return &tp->lines[i];
		}
	}
	if (tp->count == tp->capacity) {
		tp->capacity = tp->capacity ? 2 * tp->capacity : 16;
		tp->lines = realloc(tp->lines, tp->capacity * sizeof(*tp->lines));
		if (!tp->lines)
			abort();
	}
	struct progress_line *line = &tp->lines[tp->count++];
	memset(line, 0, sizeof(*line));
	snprintf(line->digest, sizeof(line->digest), "%s", digest);
	*is_new = true;
	return line;
}

static void terminal_update(void *ctx, const char *digest, int64_t done, int64_t total)
{
	struct terminal_progress *tp = ctx;
	char text[128];
	pthread_mutex_lock(&tp->lock);
	bool is_new;
	struct progress_line *line = find_line(tp, digest, &is_new);
	bool was_finished = !is_new && line->total >= 0 && line->done >= line->total;
	bool finished = total >= 0 && done >= total;
	bool finished_now = finished && !was_finished;
	if (is_new)
		line->present = finished;
	line->done = done;
	line->total = total;
	line_text(line, text, sizeof(text));
	size_t up = tp->count - (size_t)(line - tp->lines);
	if (is_new)
		fprintf(tp->out, "%s\n", text);
	else if (tp->tty && (finished_now || redraw_due(tp)))
		fprintf(tp->out, "\033[%zuA\r\033[2K%s\r\033[%zuB", up, text, up);
	else if (!tp->tty && finished_now)
		fprintf(tp->out, "%s\n", text);
	fflush(tp->out);
	pthread_mutex_unlock(&tp->lock);
}

void pull_progress_terminal(struct pull_progress *progress, FILE *out)
{
	struct terminal_progress *tp = calloc(1, sizeof(*tp));
	if (!tp)
		abort();
	tp->out = out;
	tp->tty = isatty(fileno(out));
	pthread_mutex_init(&tp->lock, NULL);
	progress->update = terminal_update;
	progress->ctx = tp;
}

void pull_progress_terminal_done(struct pull_progress *progress)
{
	struct terminal_progress *tp = progress->ctx;
	if (!tp)
		return;
	pthread_mutex_destroy(&tp->lock);
	free(tp->lines);
	free(tp);
	progress->ctx = NULL;
	progress->update = NULL;
}
