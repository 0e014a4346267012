/* One pod as the sync loop holds it: its spec from the API, its sandbox, and each container's
 * current run and history. Internal to kubelet/; only the loop's thread touches it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kubelet/loop.h"
#include "kubelet/pod_spec.h"
#include "kubelet/restart_backoff.h"
#include "lib/timeutil.h"
#include "lib/ipv4_cidr.h"
#include "runtime/container.h"
#include "runtime/cri_log.h"
#include "runtime/image_store.h"

enum container_phase { CONTAINER_WAITING, CONTAINER_RUNNING, CONTAINER_TERMINATED };

/* A container's state as Kubernetes shows it (status.containerStatuses[].state). */
struct container_state {
	enum container_phase phase;
	char *reason; /* Waiting: ContainerCreating, ErrImagePull, CrashLoopBackOff...;
			 Terminated: Completed, Error, OOMKilled, StartError */
	char *message;
	int exit_code;
	int signal;
	char started_at[TIMEUTIL_TEXT_SIZE]; /* "" when unknown */
	char finished_at[TIMEUTIL_TEXT_SIZE];
	char *container_id; /* "ckube://<id>" of the run this state is about, or NULL */
};

struct pod;
struct prober;
struct probe_attempt;

struct pod_container {
	struct pod *pod;
	const struct container_spec *spec; /* into pod->spec; renewed with it */
	bool init;
	struct container *run;  /* the running (or exited, not yet reaped) container */
	struct log_stream *log; /* its output being written to the log */
	struct container_state state, last_state;
	int restart_count;
	struct restart_backoff backoff;
	int64_t restart_at_ms; /* not before (loop time) */
	int64_t running_since_ms;
	bool ready;
	bool started; /* startup probe passed (or none) */
	bool pulling;
	struct image_record *image; /* present in the store */
	char *image_error;          /* why the last pull failed, for ImagePullBackOff */
	bool stop_sent;
	int64_t kill_at_ms;        /* a stop for a restart (failed liveness): kill from then */
	struct prober *probers[3]; /* by enum prober_type; NULL where the spec has no probe */
	/* The lifecycle hook running (pod_hooks.c), and what the sync does with its end. */
	struct probe_attempt *hook_attempt;
	struct loop_timer *hook_timer;
	void (*hook_done)(struct pod_container *c, bool ok, const char *message);
	bool post_start_pending; /* the run waits for its postStart hook: not running yet */
};

enum pod_stage {
	POD_STARTING,    /* sandbox, then init containers one by one */
	POD_RUNNING,     /* app containers */
	POD_TERMINATING, /* stopping containers (deletion, or the pod is done) */
	POD_GONE,        /* containers and sandbox removed; waiting for the API to forget it */
};

struct pod {
	struct pods *pods;
	char *uid;
	struct pod_spec *spec;
	enum pod_stage stage;
	bool removed_from_api; /* no longer in the API: clean up and forget */
	bool sandbox_ready;
	char *sandbox_error;         /* CreatePodSandboxError's message */
	struct pod_volumes *volumes; /* pod_volumes.c: NULL until the first setup */
	int64_t usage_check_at_ms;   /* the next look at its disk emptyDirs' sizeLimit */
	char *evicted_message;       /* evicted (phase Failed, reason Evicted): why */
	bool volume_error_reported;  /* a spec the volumes cannot be read from */
	char *dir;                   /* <run-dir>/pods/<uid> */
	char *cgroup_relative;       /* <qos>/pod<uid> */
	int cgroup_fd;
	char ip[IPV4_TEXT_MAX + 1]; /* its address on the pod network; "" when none */
	struct pod_container *init_containers;
	size_t init_count;
	struct pod_container *containers;
	size_t container_count;
	char start_time[TIMEUTIL_TEXT_SIZE];
	int64_t kill_deadline_ms; /* when terminating: grace ends */
	struct loop_timer *timer; /* the next sync this pod asked for */
	int64_t timer_at_ms;
	json_t *last_status; /* what was last handed to the API writer */
	bool delete_sent;
	bool is_static;        /* from a manifest file; its status goes to its mirror pod */
	char *mirror_uid;      /* that mirror pod in the API, once seen */
	bool mirror_requested; /* a create of the mirror is on its way */
	bool mirror_listed;    /* seen in the list being applied */
	int64_t seen_ms;       /* when the agent first saw it (loop time) */
	bool start_recorded;   /* its start latency is in the metrics (or is not to be) */
};
