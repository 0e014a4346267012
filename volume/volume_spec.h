/* A pod's spec.volumes as the node acts on them: read once from the API's JSON into typed
 * structs. The API server has validated the fields it can; what is read here is only checked
 * for what the node needs to act safely (a source it supports, absolute paths, modes). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

enum volume_kind {
	VOLUME_HOST_PATH,
	VOLUME_EMPTY_DIR,
	VOLUME_NFS,
	VOLUME_CONFIG_MAP,
	VOLUME_SECRET,
	VOLUME_UNSUPPORTED, /* a source this node does not mount (persistentVolumeClaim, csi...) */
};

/* hostPath.type: what must be at the path before the pod starts. */
enum host_path_type {
	HOST_PATH_UNSET, /* "": nothing is checked */
	HOST_PATH_DIRECTORY_OR_CREATE,
	HOST_PATH_DIRECTORY,
	HOST_PATH_FILE_OR_CREATE,
	HOST_PATH_FILE,
	HOST_PATH_SOCKET,
	HOST_PATH_CHAR_DEVICE,
	HOST_PATH_BLOCK_DEVICE,
};

/* One items[] entry of a configMap or secret volume: the key's value goes to `path`. */
struct volume_item {
	char *key;
	char *path; /* relative, without ".." (checked) */
	int mode;   /* -1: the volume's defaultMode */
};

struct volume_spec {
	char *name;
	enum volume_kind kind;
	char *source_name; /* the field that named the source: "hostPath", "csi", ... */
	struct {
		char *path;
		enum host_path_type type;
	} host_path;
	struct {
		bool memory;        /* medium: Memory (a tmpfs) */
		int64_t size_limit; /* bytes; -1 when unset */
	} empty_dir;
	struct {
		char *server;
		char *path;
		bool read_only;
	} nfs;
	/* configMap and secret */
	struct {
		char *name;
		struct volume_item *items;
		size_t item_count; /* 0: every key, each under its own name */
		int default_mode;
		bool optional;
	} object;
};

/* Reads spec.volumes (an array, or NULL for none). On error nothing is returned and the
 * message names the volume and the field. */
int volume_specs_parse(const json_t *volumes, struct volume_spec **out, size_t *count,
		       struct ck_error *err);
void volume_specs_free(struct volume_spec *specs, size_t count);
const struct volume_spec *volume_specs_find(const struct volume_spec *specs, size_t count,
					    const char *name);

/* The hostPath type's name as the API writes it ("" for HOST_PATH_UNSET). */
const char *host_path_type_name(enum host_path_type type);

/* A relative path that stays below its base: not empty, not absolute, no ".." element, not
 * starting with ".." (the atomic writer's names). items[].path and subPath are checked with
 * it. */
bool volume_path_is_local(const char *path);
