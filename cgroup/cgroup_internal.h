/* What the files of cgroup/ share with each other (and with their tests); not for callers
 * outside this folder, which use cgroup/cgroup.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup/cgroup.h"
#include "lib/buf.h"

/* The controllers ckube enables on its way down the tree: those whose files it writes. Each
 * enabled controller costs accounting in every cgroup below, so nothing else is enabled. */
#define CGROUP_ENABLED_CONTROLLERS (CGROUP_CPU | CGROUP_MEMORY | CGROUP_PIDS)

/* cpu.weight bounds (CGROUP_WEIGHT_MIN/MAX) and the smallest cpu.max quota the kernel takes. */
#define CGROUP_CPU_WEIGHT_MIN 1
#define CGROUP_CPU_WEIGHT_MAX 10000
#define CGROUP_CPU_QUOTA_MIN_US 1000

/* How long removing a cgroup waits for its processes to die after cgroup.kill. */
#define CGROUP_KILL_TIMEOUT_MS 5000

/* The name cgroup.controllers uses for one controller bit ("cpu"). */
const char *cgroup_controller_name(enum cgroup_controller controller);
/* "cpuset cpu memory" to controller bits; names ckube has no bit for are skipped. */
unsigned cgroup_controllers_parse(const char *text);
/* Appends the names of `controllers` to `out` as "cpu, memory and pids". */
void cgroup_controllers_describe(unsigned controllers, struct buf *out);
/* Enables in the cgroup.subtree_control of `dirfd` whichever of `wanted` its cgroup.controllers
 * offers and returns in *enabled what that file holds afterwards. A controller the kernel refuses
 * (processes in the cgroup, real-time tasks for cpu) is logged and left out, never an error:
 * the limits it would carry are then reported as not enforced. */
int cgroup_enable_controllers(int dirfd, unsigned wanted, unsigned *enabled, struct ck_error *err);

/* The content of a file of the cgroup open at `dirfd`. A cgroup removed meanwhile reads as
 * -ENOENT whether the kernel said ENOENT or ENODEV. */
int cgroup_read_file(int dirfd, const char *file, char **text, struct ck_error *err);
/* Writes `value` with a single write(2): the kernel parses each write on its own. */
int cgroup_write_file(int dirfd, const char *file, const char *value, struct ck_error *err);
/* The number after `key` in "key value" lines (cpu.stat, cgroup.events, memory.events);
 * -ENODATA when no line has that key. */
int cgroup_parse_key(const char *text, const char *key, int64_t *value);
/* cgroup_read_file and cgroup_parse_key, or the whole file as one number when `key` is NULL
 * (memory.current). -ENOENT when the file is missing, -ENODATA when the key is. */
int cgroup_read_number(int dirfd, const char *file, const char *key, int64_t *value,
		       struct ck_error *err);

/* Waits until cgroup.events shows `key` with `value` ("populated" 0, "frozen" 1), sleeping in
 * poll(2) on the file's change notifications; -ETIMEDOUT after `timeout_ms`. */
int cgroup_wait_event(int dirfd, const char *key, int64_t value, int timeout_ms,
		      struct ck_error *err);

/* The mount point of the cgroup2 file system in the text of /proc/self/mountinfo, with the
 * kernel's octal escapes undone. A mount of the hierarchy's root wins over a mount of a
 * subdirectory. -ENOENT when there is none. */
int cgroup_mount_find(const char *mountinfo, char **mount, struct ck_error *err);

/* Checks a path below the root before it reaches a system call: relative, components not empty,
 * "." or "..". An empty path (the root itself) is accepted only with `allow_empty`. */
int cgroup_relative_check(const char *relative, bool allow_empty, struct ck_error *err);
/* Creates each missing directory of `relative` below `basefd`, enabling the controllers in every
 * directory that gets children (and in the last one too unless it is a `leaf`, which will hold
 * processes and so must not enable any). Returns a descriptor of the last directory. */
int cgroup_mkdir_path(int basefd, const char *relative, bool leaf, int *dirfd,
		      struct ck_error *err);

/* A limit ready to be written: the file, the controller that provides it, and the text. */
struct cgroup_limit_file {
	const char *file;
	enum cgroup_controller controller;
	char value[48];
};
#define CGROUP_LIMIT_FILES_MAX 6

/* Checks every limit against what the kernel accepts and renders the files to write, so that a
 * bad value is refused before anything is written. */
int cgroup_limits_render(const struct cgroup_limits *limits,
			 struct cgroup_limit_file files[CGROUP_LIMIT_FILES_MAX], size_t *count,
			 struct ck_error *err);
