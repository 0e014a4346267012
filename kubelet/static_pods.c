/* Static pods from manifest files: see static_pods.h. */
#include "kubelet/static_pods.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "lib/timeutil.h"
#include "lib/yaml.h"
#include "runtime/image_digest.h"

#define RESCAN_MS 20000 /* the kubelet's fileCheckFrequency */

static bool manifest_name(const char *name)
{
	static const char *const suffixes[] = {".yaml", ".yml", ".json"};
	size_t len = strlen(name);

	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(suffixes[i]);
		if (len > n && strcmp(name + len - n, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static json_t *object_at(json_t *parent, const char *key)
{
	json_t *child = json_object_get(parent, key);

	if (!json_is_object(child)) {
		child = json_object();
		json_object_set_new(parent, key, child);
	}
	return child;
}

/* The kubelet's uid: a hash of the pod as written, the node and the file, so the pod keeps it
 * while the file stays the same. */
static int pod_uid(const json_t *pod, const char *node_name, const char *path, char out[33],
		   struct ck_error *err)
{
	_cleanup_free_ char *text = json_dumps(pod, JSON_COMPACT | JSON_SORT_KEYS);
	_cleanup_free_ char *hashed = NULL;
	char digest[IMAGE_DIGEST_LENGTH + 1];
	int r;

	if (!text || asprintf(&hashed, "%s\nhost:%s\nfile:%s", text, node_name, path) < 0)
		abort();
	r = image_digest_of(hashed, strlen(hashed), digest, err);
	if (r < 0)
		return r;
	snprintf(out, 33, "%s", image_digest_hex(digest));
	return 0;
}

/* Gives one Pod of `path` what the kubelet's file source gives it. */
static int complete_pod(json_t *pod, const char *node_name, const char *path, struct ck_error *err)
{
	json_t *metadata = object_at(pod, "metadata");
	json_t *annotations;
	const char *name = json_string_value(json_object_get(metadata, "name"));
	const char *kind = json_string_value(json_object_get(pod, "kind"));
	_cleanup_free_ char *full_name = NULL;
	char uid[33];
	int r;

	if (!kind || strcmp(kind, "Pod") != 0)
		return ck_error_set(err, EINVAL, "kind %s: only Pods can be static pods",
				    kind ? kind : "(none)");
	if (!name || !*name)
		return ck_error_set(err, EINVAL, "metadata.name: Required value");
	r = pod_uid(pod, node_name, path, uid, err);
	if (r < 0)
		return r;
	if (asprintf(&full_name, "%s-%s", name, node_name) < 0)
		abort();
	json_object_set_new(metadata, "name", json_string(full_name));
	if (!json_string_value(json_object_get(metadata, "namespace")) ||
	    !*json_string_value(json_object_get(metadata, "namespace")))
		json_object_set_new(metadata, "namespace", json_string("default"));
	if (!json_string_value(json_object_get(metadata, "uid")))
		json_object_set_new(metadata, "uid", json_string(uid));
	annotations = object_at(metadata, "annotations");
	json_object_set_new(annotations, STATIC_POD_HASH_ANNOTATION,
			    json_string(json_string_value(json_object_get(metadata, "uid"))));
	json_object_set_new(annotations, "kubernetes.io/config.source", json_string("file"));
	json_object_set_new(object_at(pod, "spec"), "nodeName", json_string(node_name));
	json_object_del(pod, "status");
	return 0;
}

static void read_file_pods(const char *path, const char *node_name, json_t *pods)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *docs = NULL;
	struct ck_error err = {0};
	size_t len, i;
	json_t *doc;

	if (fs_read_file(path, &text, &len, &err) < 0 ||
	    yaml_parse_documents(text, len, &docs, &err) < 0) {
		log_warn("node %s: static pod manifest %s: %s", node_name, path, err.message);
		return;
	}
	json_array_foreach (docs, i, doc) {
		if (json_is_null(doc))
			continue;
		if (complete_pod(doc, node_name, path, &err) < 0) {
			log_warn("node %s: static pod manifest %s: %s", node_name, path,
				 err.message);
			continue;
		}
		json_array_append(pods, doc);
	}
}

json_t *static_pods_read(const char *dir, const char *node_name)
{
	json_t *pods = json_array();
	struct dirent **entries;
	int count = scandir(dir, &entries, NULL, alphasort);

	if (count < 0) {
		if (errno != ENOENT)
			log_warn("node %s: static pods: read %s: %s", node_name, dir,
				 strerror(errno));
		return pods;
	}
	for (int i = 0; i < count; i++) {
		if (manifest_name(entries[i]->d_name)) {
			_cleanup_free_ char *path = NULL;
			if (asprintf(&path, "%s/%s", dir, entries[i]->d_name) < 0)
				abort();
			read_file_pods(path, node_name, pods);
		}
		free(entries[i]);
	}
	free(entries);
	return pods;
}

bool static_pod_is_mirror(const json_t *pod)
{
	return json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"),
			       STATIC_POD_MIRROR_ANNOTATION) != NULL;
}

/* --- watching the directory ------------------------------------------------------------- */

struct static_pods {
	struct loop *loop;
	char *dir, *node_name;
	void (*changed)(void *ctx, const json_t *pods);
	void *ctx;
	int inotify_fd;
	bool watching; /* the directory is watched (it may appear only later) */
	struct loop_timer *timer;
	json_t *last;        /* what `changed` was last told, without config.seen */
	struct strmap *seen; /* uid -> when it was first read */
};

static void watch_dir(struct static_pods *source)
{
	if (source->watching)
		return;
	source->watching =
	    inotify_add_watch(source->inotify_fd, source->dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
				  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR) >= 0;
}

static void rescan(struct static_pods *source)
{
	json_t *pods = static_pods_read(source->dir, source->node_name);
	_cleanup_json_ json_t *told = NULL;
	size_t i;
	json_t *pod;

	watch_dir(source);
	if (source->last && json_equal(pods, source->last)) {
		json_decref(pods);
		return;
	}
	json_decref(source->last);
	source->last = pods;
	told = json_deep_copy(pods);
	json_array_foreach (told, i, pod) {
		json_t *metadata = json_object_get(pod, "metadata");
		const char *uid = json_string_value(json_object_get(metadata, "uid"));
		char *seen = strmap_get(source->seen, uid);
		if (!seen) {
			char now[TIMEUTIL_TEXT_SIZE];
			timeutil_format_rfc3339(time(NULL), now);
			seen = strdup(now);
			strmap_put(source->seen, uid, seen);
		}
		json_object_set_new(json_object_get(metadata, "annotations"),
				    "kubernetes.io/config.seen", json_string(seen));
	}
	source->changed(source->ctx, told);
}

static void on_timer(void *ctx)
{
	struct static_pods *source = ctx;

	source->timer = loop_timer_in(source->loop, RESCAN_MS, on_timer, source);
	rescan(source);
}

static void on_inotify(void *ctx, uint32_t events)
{
	struct static_pods *source = ctx;
	char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)events;
	while ((n = read(source->inotify_fd, buffer, sizeof(buffer))) > 0) {
		for (char *p = buffer; p < buffer + n;) {
			const struct inotify_event *event = (const struct inotify_event *)p;
			if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				source->watching = false; /* watched again when it is back */
			p += sizeof(*event) + event->len;
		}
	}
	rescan(source);
}

int static_pods_start(struct loop *loop, const char *dir, const char *node_name,
		      void (*changed)(void *ctx, const json_t *pods), void *ctx,
		      struct static_pods **out, struct ck_error *err)
{
	struct static_pods *source = calloc(1, sizeof(*source));
	int r;

	if (!source)
		abort();
	*source = (struct static_pods){.loop = loop,
				       .dir = strdup(dir),
				       .node_name = strdup(node_name),
				       .changed = changed,
				       .ctx = ctx,
				       .seen = strmap_new(free)};
	/* Made when missing, so that a first manifest is seen at once rather than at the next
	 * rescan; a directory that cannot be made is only read by the rescans. */
	if (fs_mkdir_p(dir, 0755, NULL) < 0)
		log_warn("node %s: static pods: cannot make %s", node_name, dir);
	source->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (source->inotify_fd < 0) {
		r = ck_error_errno(err, errno, "static pods: inotify");
		static_pods_stop(source);
		return r;
	}
	r = loop_add_fd(loop, source->inotify_fd, EPOLLIN, on_inotify, source, err);
	if (r < 0) {
		static_pods_stop(source);
		return r;
	}
	on_timer(source);
	*out = source;
	return 0;
}

void static_pods_stop(struct static_pods *source)
{
	if (!source)
		return;
	loop_timer_cancel(source->loop, source->timer);
	if (source->inotify_fd >= 0) {
		loop_remove_fd(source->loop, source->inotify_fd);
		close(source->inotify_fd);
	}
	json_decref(source->last);
	strmap_free(source->seen);
	free(source->dir);
	free(source->node_name);
	free(source);
}
