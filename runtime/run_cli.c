/* `ckube run`: one container without the API, for debugging and benchmarks. It takes the same
 * path as the agent's containers (image store, process rules, cgroup, container_start) and
 * exits with the container's exit code, or 125 when the container could not be created, 126
 * when its command cannot be executed and 127 when it does not exist (as docker run does).
 *
 * It lives in runtime/ but also uses cgroup/ for the container's one cgroup: composing the two
 * for a single container is its whole job. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "cmd/commands.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/quantity.h"
#include "runtime/capabilities.h"
#include "runtime/cli.h"
#include "runtime/container.h"
#include "runtime/cri_log.h"
#include "runtime/etc_files.h"
#include "runtime/image_pull.h"
#include "runtime/image_user.h"
#include "runtime/process_spec.h"

#define EXIT_CREATE_FAILED 125
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

/* The namespaces `ckube run` can share with a running container, and their /proc names. */
enum shared_ns { SHARED_NET, SHARED_IPC, SHARED_UTS, SHARED_PID, SHARED_COUNT };
static const char *const shared_names[SHARED_COUNT] = {"net", "ipc", "uts", "pid"};

struct run_options {
	struct runtime_dirs dirs;
	bool remove;
	const char *net;
	const char *memory;
	const char *name;
	const char *user;
	const char *workdir;
	const char *log_file;
	/* --net, --ipc, --uts, --pid container:ID: the namespaces shared with another container,
	 * as a pod's containers share theirs; NULL for new ones (or the host's network). */
	const char *shared_from[SHARED_COUNT];
	bool read_only;
	bool privileged;
	bool seccomp_unconfined;
	bool allow_escalation;
	int grace_seconds;
	struct env_var *env;
	size_t env_count;
	const char **cap_add, **cap_drop;
	size_t cap_add_count, cap_drop_count;
	const char *target;
	const char *const *command;
	size_t command_count;
};

/* Everything resolved from the options and the image, ready for container_start. */
struct run_plan {
	json_t *image_config; /* the image's config, NULL for a root file system directory */
	json_t *annotations;  /* kept in the container's state: the image it runs */
	char **layers;
	size_t layer_count;
	char *scratch_dir;
	struct env_var *env;
	size_t env_count;
	char **environment;
	char **argv;
	const char *cwd;
	struct process_user user;
	uint64_t capabilities;
	int stop_signal;
	char id[64];
	char *cgroup_relative;
	char *cgroup_path;
	int shared_fds[SHARED_COUNT]; /* namespaces of other containers, or -1 */
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: ckube run [OPTIONS] IMAGE|ROOTFS [--] [COMMAND [ARG...]]\n\n"
	    "Runs one container without the API and exits with its exit code. A COMMAND\n"
	    "replaces the image's entrypoint and command, as a pod's `command` does: $(VAR)\n"
	    "takes the value of an -e variable, and $$ stands for a $.\n\n"
	    "  --rm                   remove the container's state and writable layer at the end\n"
	    "  --net none|host        a network namespace of its own (default) or the host's\n"
	    "  --pid container:ID     share the pid namespace of a running container\n"
	    "  --memory QUANTITY      memory limit, e.g. 64Mi\n"
	    "  --name NAME            container id (default: run-<random>)\n"
	    "  -e, --env NAME=VALUE   an environment variable ($(VAR) expanded like a pod's)\n"
	    "  -u, --user USER[:GROUP] instead of the image's USER\n"
	    "  -w, --workdir DIR      working directory\n"
	    "  --read-only            read-only root file system\n"
	    "  --privileged           every capability, host devices, no seccomp\n"
	    "  --cap-add CAP, --cap-drop CAP   capabilities (ALL for all)\n"
	    "  --seccomp unconfined   no seccomp profile (default: RuntimeDefault)\n"
	    "  --allow-escalation     do not set no_new_privs\n"
	    "  --log FILE             write output to FILE in the CRI log format\n"
	    "  --grace-period SECONDS on SIGINT or SIGTERM: stop signal, then kill (default 10)\n"
	    "  --data-dir, --run-dir, --config-dir DIR, --cgroup-root PATH   as ckube server\n");
}

static void push(const char ***list, size_t *count, const char *value)
{
	*list = realloc(*list, (*count + 1) * sizeof(**list));
	if (!*list)
		abort();
	(*list)[(*count)++] = value;
}

static int parse_env(struct run_options *opts, const char *text)
{
	const char *eq = strchr(text, '=');

	if (!eq || eq == text) {
		fprintf(stderr, "ckube run: --env %s: expected NAME=VALUE\n", text);
		return -1;
	}
	opts->env = realloc(opts->env, (opts->env_count + 1) * sizeof(*opts->env));
	if (!opts->env)
		abort();
	opts->env[opts->env_count++] =
	    (struct env_var){strndup(text, (size_t)(eq - text)), strdup(eq + 1)};
	return 0;
}

enum {
	OPT_RM = 256,
	OPT_NET,
	OPT_IPC,
	OPT_UTS,
	OPT_PID,
	OPT_MEMORY,
	OPT_NAME,
	OPT_READ_ONLY,
	OPT_PRIVILEGED,
	OPT_CAP_ADD,
	OPT_CAP_DROP,
	OPT_SECCOMP,
	OPT_ESCALATION,
	OPT_LOG,
	OPT_GRACE,
	OPT_DIR_BASE, /* the runtime_dirs options follow */
};

static int parse_options(int argc, char **argv, struct run_options *opts)
{
	static const struct option options[] = {
	    {"rm", no_argument, NULL, OPT_RM},
	    {"net", required_argument, NULL, OPT_NET},
	    {"ipc", required_argument, NULL, OPT_IPC},
	    {"uts", required_argument, NULL, OPT_UTS},
	    {"pid", required_argument, NULL, OPT_PID},
	    {"memory", required_argument, NULL, OPT_MEMORY},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"env", required_argument, NULL, 'e'},
	    {"user", required_argument, NULL, 'u'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"read-only", no_argument, NULL, OPT_READ_ONLY},
	    {"privileged", no_argument, NULL, OPT_PRIVILEGED},
	    {"cap-add", required_argument, NULL, OPT_CAP_ADD},
	    {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
	    {"seccomp", required_argument, NULL, OPT_SECCOMP},
	    {"allow-escalation", no_argument, NULL, OPT_ESCALATION},
	    {"log", required_argument, NULL, OPT_LOG},
	    {"grace-period", required_argument, NULL, OPT_GRACE},
	    {"help", no_argument, NULL, 'h'},
	    RUNTIME_DIRS_OPTIONS(OPT_DIR_BASE),
	    {0},
	};
	int c;

	opts->net = "none";
	opts->grace_seconds = 10;
	runtime_dirs_default(&opts->dirs);
	/* "+": options end at the image, so the command's own options stay its own. */
	while ((c = getopt_long(argc, argv, "+e:u:w:h", options, NULL)) != -1) {
		switch (c) {
		case OPT_RM:
			opts->remove = true;
			break;
		case OPT_NET:
			if (strcmp(optarg, "none") == 0 || strcmp(optarg, "host") == 0) {
				opts->net = optarg;
				break;
			}
			/* Else container:ID, like the others. */
			__attribute__((fallthrough));
		case OPT_IPC:
		case OPT_UTS:
		case OPT_PID:
			if (strncmp(optarg, "container:", 10) != 0 || !optarg[10]) {
				fprintf(stderr, "ckube run: --%s: container:ID\n",
					shared_names[c - OPT_NET]);
				return -1;
			}
			opts->shared_from[c - OPT_NET] = optarg + 10;
			break;
		case OPT_MEMORY:
			opts->memory = optarg;
			break;
		case OPT_NAME:
			opts->name = optarg;
			break;
		case 'e':
			if (parse_env(opts, optarg) < 0)
				return -1;
			break;
		case 'u':
			opts->user = optarg;
			break;
		case 'w':
			opts->workdir = optarg;
			break;
		case OPT_READ_ONLY:
			opts->read_only = true;
			break;
		case OPT_PRIVILEGED:
			opts->privileged = true;
			break;
		case OPT_CAP_ADD:
			push(&opts->cap_add, &opts->cap_add_count, optarg);
			break;
		case OPT_CAP_DROP:
			push(&opts->cap_drop, &opts->cap_drop_count, optarg);
			break;
		case OPT_SECCOMP:
			if (strcmp(optarg, "unconfined") != 0 &&
			    strcmp(optarg, "runtime/default") != 0) {
				fprintf(stderr,
					"ckube run: --seccomp: unconfined or runtime/default\n");
				return -1;
			}
			opts->seccomp_unconfined = strcmp(optarg, "unconfined") == 0;
			break;
		case OPT_ESCALATION:
			opts->allow_escalation = true;
			break;
		case OPT_LOG:
			opts->log_file = optarg;
			break;
		case OPT_GRACE:
			opts->grace_seconds = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (runtime_dirs_option(&opts->dirs, c - OPT_DIR_BASE, optarg))
				break;
			usage(stderr);
			return -1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return -1;
	}
	opts->target = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	opts->command = (const char *const *)argv + optind;
	opts->command_count = (size_t)(argc - optind);
	return 0;
}

static bool is_root_directory(const char *target)
{
	struct stat st;

	return strchr(target, '/') && stat(target, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The image from the store, pulled first when the store does not have it. */
static int load_image(const struct run_options *opts, struct run_plan *plan, struct ck_error *err)
{
	_cleanup_(image_store_closep) struct image_store *store = NULL;
	struct image_record *record = NULL;
	int r = runtime_open_store(&opts->dirs, &store, err);

	if (r == 0)
		r = runtime_find_or_pull(&opts->dirs, store, opts->target, &record, err);
	if (r < 0)
		return r;
	plan->image_config = json_incref(record->config);
	/* `ckube image rm` keeps images that running containers use. */
	plan->annotations = json_pack("{s:s}", "imageID", record->id);
	r = image_store_layer_paths(store, record, &plan->layers, &plan->layer_count, err);
	if (r < 0)
		ck_error_prefix(err, "%s", opts->target);
	if (r == 0)
		image_store_touch(store, record->id, NULL);
	image_record_free(record);
	return r;
}

static int resolve_process(const struct run_options *opts, struct run_plan *plan,
			   struct ck_error *err)
{
	const char *user = opts->user;
	struct user_request request = {.run_as_user = -1, .run_as_group = -1};
	int r;

	process_env_resolve(opts->env, opts->env_count, &plan->env, &plan->env_count);
	plan->environment = process_environment(json_object_get(plan->image_config, "Env"),
						plan->env, plan->env_count);
	r = process_argv(plan->image_config, opts->command, opts->command_count, NULL, 0, plan->env,
			 plan->env_count, &plan->argv, err);
	if (r == 0)
		r = process_working_dir(plan->image_config, opts->workdir, &plan->cwd, err);
	if (r == 0)
		r = process_stop_signal(plan->image_config, &plan->stop_signal, err);
	if (r < 0)
		return r;
	if (!user)
		user = json_string_value(json_object_get(plan->image_config, "User"));
	request.image_user = user ? user : "";
	r = user_resolve((const char *const *)plan->layers, plan->layer_count,
			 plan->layer_count ? NULL : opts->target, &request, &plan->user, err);
	if (r == 0)
		process_environment_defaults(&plan->environment, plan->id, plan->user.home);
	if (r == 0)
		r = capabilities_compute(opts->cap_add, opts->cap_add_count, opts->cap_drop,
					 opts->cap_drop_count, opts->privileged,
					 &plan->capabilities, err);
	return r;
}

static void make_id(const struct run_options *opts, char id[64])
{
	unsigned char random[6] = {0};

	if (opts->name) {
		snprintf(id, 64, "%s", opts->name);
		return;
	}
	(void)!getrandom(random, sizeof(random), 0);
	snprintf(id, 64, "run-%02x%02x%02x%02x%02x%02x", random[0], random[1], random[2], random[3],
		 random[4], random[5]);
}

static int make_cgroup(const struct run_options *opts, struct run_plan *plan,
		       struct cgroup_root *root, int *cgroup_fd, struct ck_error *err)
{
	struct cgroup_resources resources = {
	    .cpu_request_milli = -1,
	    .cpu_limit_milli = -1,
	    .memory_request = -1,
	    .memory_limit = -1,
	    .pids_limit = -1,
	    .container = true,
	};
	struct cgroup_limits limits;
	struct quantity memory;
	unsigned not_enforced = 0;
	int r;

	if (asprintf(&plan->cgroup_relative, "run/%s", plan->id) < 0 ||
	    asprintf(&plan->cgroup_path, "%s/%s", root->path, plan->cgroup_relative) < 0)
		abort();
	r = cgroup_create(root, plan->cgroup_relative, cgroup_fd, err);
	if (r < 0 || !opts->memory)
		return r;
	r = quantity_parse(opts->memory, &memory, err);
	if (r < 0)
		return ck_error_prefix(err, "--memory");
	if (memory.value <= 0)
		return ck_error_set(err, EINVAL, "--memory %s: must be greater than 0",
				    opts->memory);
	resources.memory_limit = memory.value;
	cgroup_limits_from_resources(&resources, &limits);
	r = cgroup_apply_limits(*cgroup_fd, &limits, &not_enforced, err);
	if (r == 0 && not_enforced)
		fprintf(stderr, "ckube run: warning: --memory is not enforced: %s\n",
			cgroup_root_missing(root));
	return r;
}

/* The namespaces to share with other running containers, as a pod's containers share
 * theirs. */
static int open_shared_namespaces(const struct run_options *opts, int fds[SHARED_COUNT],
				  struct ck_error *err)
{
	for (int ns = 0; ns < SHARED_COUNT; ns++) {
		const char *id = opts->shared_from[ns];
		struct container *other;
		char path[64];
		int r;

		if (!id)
			continue;
		r = container_adopt(opts->dirs.run_dir, id, &other, err);
		if (r < 0)
			return r;
		if (!container_running(other)) {
			container_free(other);
			return ck_error_set(err, ESRCH, "container %s is not running", id);
		}
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)other->pid, shared_names[ns]);
		container_free(other);
		fds[ns] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[ns] < 0)
			return ck_error_errno(err, errno, "open %s", path);
	}
	return 0;
}

static struct container_namespace namespace_mode(const struct run_plan *plan, enum shared_ns ns,
						 bool host)
{
	if (plan->shared_fds[ns] >= 0)
		return (struct container_namespace){CONTAINER_NS_JOIN, plan->shared_fds[ns]};
	return (struct container_namespace){host ? CONTAINER_NS_HOST : CONTAINER_NS_NEW, -1};
}

static void plan_clear(struct run_plan *plan)
{
	json_decref(plan->image_config);
	json_decref(plan->annotations);
	for (int ns = 0; ns < SHARED_COUNT; ns++)
		if (plan->shared_fds[ns] >= 0)
			close(plan->shared_fds[ns]);
	strv_free(plan->layers);
	free(plan->scratch_dir);
	env_vars_free(plan->env, plan->env_count);
	strv_free(plan->environment);
	strv_free(plan->argv);
	process_user_clear(&plan->user);
	free(plan->cgroup_relative);
	free(plan->cgroup_path);
}

/* Waits for the container, turning SIGINT and SIGTERM into a stop: the stop signal, then after
 * the grace period (or a second signal) every process of its cgroup killed. */
static int supervise(struct container *container, int cgroup_fd, int grace_seconds,
		     struct container_exit *status, struct ck_error *err)
{
	_cleanup_close_ int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	_cleanup_close_ int signal_fd = -1, timer_fd = -1;
	sigset_t stop_signals;
	bool stopping = false;

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (epoll_fd < 0 || signal_fd < 0 || timer_fd < 0)
		return ck_error_errno(err, errno, "wait for the container");
	struct epoll_event events[] = {
	    {.events = EPOLLIN, .data.fd = container->pidfd},
	    {.events = EPOLLIN, .data.fd = signal_fd},
	    {.events = EPOLLIN, .data.fd = timer_fd},
	};
	for (size_t i = 0; i < 3; i++)
		epoll_ctl(epoll_fd, EPOLL_CTL_ADD, events[i].data.fd, &events[i]);
	for (;;) {
		struct epoll_event ready;
		int n = epoll_wait(epoll_fd, &ready, 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ck_error_errno(err, errno, "wait for the container");
		if (ready.data.fd == container->pidfd)
			return container_wait(container, status, err);
		if (ready.data.fd == signal_fd) {
			struct signalfd_siginfo info;
			(void)!read(signal_fd, &info, sizeof(info));
			if (stopping) {
				cgroup_kill(cgroup_fd, NULL);
				continue;
			}
			stopping = true;
			container_signal(container, container->stop_signal, NULL);
			struct itimerspec grace = {.it_value.tv_sec =
						       grace_seconds > 0 ? grace_seconds : 0,
						   .it_value.tv_nsec = grace_seconds > 0 ? 0 : 1};
			timerfd_settime(timer_fd, 0, &grace, NULL);
		} else {
			uint64_t expirations;
			(void)!read(timer_fd, &expirations, sizeof(expirations));
			cgroup_kill(cgroup_fd, NULL);
		}
	}
}

/* The Kubernetes reason first, as the agent reports it in the pod's status. */
static int report_failure(const char *reason, int exit_code, const struct ck_error *err)
{
	fprintf(stderr, "ckube run: %s: %s\n", reason, err->message);
	return exit_code;
}

static bool oom_killed(int cgroup_fd)
{
	struct cgroup_stats stats;

	return cgroup_stats_read(cgroup_fd, &stats, NULL) == 0 && stats.oom_kills > 0;
}

struct run_output {
	struct log_pump *pump;
	struct log_stream *stream;
	int child[2];
};

static int open_log(const struct run_options *opts, const char *id, struct run_output *output,
		    struct ck_error *err)
{
	const struct log_pump_options defaults = {0};
	int reader[2];
	int r = container_output_open(opts->dirs.run_dir, id, output->child, reader, err);

	if (r == 0)
		r = log_pump_start(&defaults, &output->pump, err);
	if (r == 0)
		r = log_pump_add(output->pump, opts->log_file, reader[0], reader[1],
				 &output->stream, err);
	return r;
}

static void close_log(struct run_output *output)
{
	for (int i = 0; i < 2; i++)
		if (output->child[i] >= 0)
			close(output->child[i]);
	if (output->stream) {
		log_stream_wait(output->stream, 5000);
		log_stream_close(output->pump, output->stream);
	}
	if (output->pump)
		log_pump_stop(output->pump);
}

static int run_container(const struct run_options *opts, struct run_plan *plan, int cgroup_fd,
			 struct ck_error *err)
{
	struct run_output output = {.child = {-1, -1}};
	const char *const *layers = (const char *const *)plan->layers;
	struct container_config config = {
	    .id = plan->id,
	    .subject = plan->id,
	    .run_dir = opts->dirs.run_dir,
	    .rootfs = plan->layer_count ? NULL : opts->target,
	    .layers = layers,
	    .layer_count = plan->layer_count,
	    .scratch_dir = plan->scratch_dir,
	    .read_only_root = opts->read_only,
	    .privileged = opts->privileged,
	    .hostname = plan->id,
	    .net = namespace_mode(plan, SHARED_NET, strcmp(opts->net, "host") == 0),
	    .ipc = namespace_mode(plan, SHARED_IPC, false),
	    .uts = namespace_mode(plan, SHARED_UTS, false),
	    .pid_ns_fd = plan->shared_fds[SHARED_PID],
	    .cgroup_fd = cgroup_fd,
	    .cgroup_path = plan->cgroup_path,
	    .stop_signal = plan->stop_signal,
	    .annotations = plan->annotations,
	    .process =
		{
		    .argv = plan->argv,
		    .env = plan->environment,
		    .cwd = plan->cwd,
		    .uid = plan->user.uid,
		    .gid = plan->user.gid,
		    .groups = plan->user.groups,
		    .group_count = plan->user.group_count,
		    .capabilities = plan->capabilities,
		    .no_new_privs = !opts->allow_escalation && !opts->privileged,
		    .seccomp_default = !opts->seccomp_unconfined && !opts->privileged,
		    .stdio = {0, 1, 2},
		},
	};
	enum container_failure failure;
	struct container_exit status = {0};
	struct container *container;
	struct etc_files etc = {0};
	_cleanup_free_ char *state_dir = NULL;
	int r;

	if (asprintf(&state_dir, "%s/containers/%s", opts->dirs.run_dir, plan->id) < 0)
		abort();
	struct etc_files_request etc_request = {.hostname = plan->id};
	r = etc_files_write(state_dir, &etc_request, &etc, err);
	if (r == 0 && opts->log_file)
		r = open_log(opts, plan->id, &output, err);
	if (r < 0) {
		close_log(&output);
		etc_files_clear(&etc);
		fs_remove_tree(AT_FDCWD, state_dir, NULL);
		return report_failure("CreateContainerError", EXIT_CREATE_FAILED, err);
	}
	config.mounts = etc.mounts;
	config.mount_count = etc.count;
	if (opts->log_file) {
		config.process.stdio[0] = -1;
		config.process.stdio[1] = output.child[0];
		config.process.stdio[2] = output.child[1];
	}
	r = container_start(&config, &container, &failure, err);
	etc_files_clear(&etc);
	/* The container holds its own copies now; ours would keep the log open forever. */
	for (int i = 0; i < 2; i++)
		if (output.child[i] >= 0)
			close(steal_fd(&output.child[i]));
	if (r < 0) {
		close_log(&output);
		if (failure == CONTAINER_FAILED_CREATE)
			return report_failure("CreateContainerError", EXIT_CREATE_FAILED, err);
		return report_failure("RunContainerError",
				      err->code == EACCES ? EXIT_NOT_EXECUTABLE : EXIT_NOT_FOUND,
				      err);
	}
	r = supervise(container, cgroup_fd, opts->grace_seconds, &status, err);
	/* Whatever the main process left behind goes with it. */
	cgroup_kill(cgroup_fd, NULL);
	close_log(&output);
	if (r < 0) {
		container_free(container);
		return report_failure("Error", EXIT_CREATE_FAILED, err);
	}
	if (status.signal == SIGKILL && oom_killed(cgroup_fd))
		fprintf(stderr, "ckube run: %s: OOMKilled: the memory limit was reached\n",
			plan->id);
	if (opts->remove)
		container_remove(container, NULL);
	else
		container_free(container);
	return status.code;
}

int run_main(int argc, char **argv)
{
	struct run_options opts = {0};
	struct run_plan plan = {.shared_fds = {-1, -1, -1, -1}};
	struct cgroup_root root = {.dirfd = -1};
	struct ck_error err = {0};
	int cgroup_fd = -1, code, r;
	sigset_t stop_signals;

	if (parse_options(argc, argv, &opts) < 0)
		return 2;
	/* Blocked from the start, so a signal during the start is not lost but handled as a stop
	 * once the container runs. The child unblocks them before it executes. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);

	make_id(&opts, plan.id);
	runtime_use_seccomp_cache(&opts.dirs);
	if (!is_root_directory(opts.target)) {
		r = load_image(&opts, &plan, &err);
		if (r < 0) {
			code = report_failure(r == -EINVAL ? "InvalidImageName" : "ErrImagePull",
					      EXIT_CREATE_FAILED, &err);
			goto out;
		}
		if (asprintf(&plan.scratch_dir, "%s/containers/%s", opts.dirs.data_dir, plan.id) <
		    0)
			abort();
	}
	r = resolve_process(&opts, &plan, &err);
	if (r == 0)
		r = open_shared_namespaces(&opts, plan.shared_fds, &err);
	if (r == 0)
		r = cgroup_root_open(opts.dirs.cgroup_root, &root, &err);
	if (r == 0)
		r = make_cgroup(&opts, &plan, &root, &cgroup_fd, &err);
	if (r < 0) {
		ck_error_prefix(&err, "%s", plan.id);
		code = report_failure("CreateContainerError", EXIT_CREATE_FAILED, &err);
		goto out;
	}
	code = run_container(&opts, &plan, cgroup_fd, &err);
out:
	if (cgroup_fd >= 0) {
		close(cgroup_fd);
		cgroup_remove(&root, plan.cgroup_relative, true, NULL);
	}
	if (root.dirfd >= 0)
		cgroup_root_close(&root);
	plan_clear(&plan);
	env_vars_free(opts.env, opts.env_count);
	free(opts.cap_add);
	free(opts.cap_drop);
	return code;
}
