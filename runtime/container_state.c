/* State files and adoption: see container_state.h. */
#include "runtime/container_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/json_util.h"
#include "lib/timeutil.h"

#define STATE_FILE "state.json"

int process_start_time(pid_t pid, uint64_t *out)
{
	char path[64], text[1024];
	_cleanup_close_ int fd = -1;
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	text[n] = '\0';
	/* The command name may hold spaces and parentheses; the fields after the last ')' do
	 * not. starttime is field 22, the 20th after it. */
	p = strrchr(text, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%" SCNu64, out) != 1)
		return -EINVAL;
	return 0;
}

static json_t *string_array(char *const *strings)
{
	json_t *array = json_array();

	for (; strings && *strings; strings++)
		json_array_append_new(array, json_string(*strings));
	return array;
}

static json_t *process_json(const struct container_process *process)
{
	json_t *groups = json_array();
	char caps[24];

	for (size_t i = 0; i < process->group_count; i++)
		json_array_append_new(groups, json_integer(process->groups[i]));
	snprintf(caps, sizeof(caps), "0x%" PRIx64, process->capabilities);
	return json_pack("{s:o, s:o, s:s, s:I, s:I, s:o, s:s, s:b, s:s}", "args",
			 string_array(process->argv), "env", string_array(process->env), "cwd",
			 process->cwd, "uid", (json_int_t)process->uid, "gid",
			 (json_int_t)process->gid, "groups", groups, "capabilities", caps,
			 "noNewPrivs", process->no_new_privs, "seccomp",
			 process->seccomp_default ? "RuntimeDefault" : "Unconfined");
}

int container_state_save(struct container *container, const struct container_config *config,
			 struct ck_error *err)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	char created[TIMEUTIL_TEXT_SIZE];
	json_t *state;
	int r;

	r = process_start_time(container->pid, &container->start_time);
	if (r < 0)
		return ck_error_errno(err, -r, "read the start time of pid %d",
				      (int)container->pid);
	timeutil_format_rfc3339(time(NULL), created);
	state = json_pack("{s:s, s:i, s:I, s:s, s:i, s:o, s:O?}", "id", container->id, "pid",
			  (int)container->pid, "startTime", (json_int_t)container->start_time,
			  "created", created, "stopSignal", container->stop_signal, "process",
			  process_json(&config->process), "annotations", config->annotations);
	if (!state)
		return ck_error_set(err, ENOMEM, "out of memory");
	if (config->rootfs == NULL && config->scratch_dir)
		json_object_set_new(state, "scratchDir", json_string(config->scratch_dir));
	if (config->cgroup_path)
		json_object_set_new(state, "cgroup", json_string(config->cgroup_path));
	container->state = state;
	text = json_dumps(state, JSON_COMPACT);
	if (asprintf(&path, "%s/" STATE_FILE, container->state_dir) < 0 || !text)
		return ck_error_set(err, ENOMEM, "out of memory");
	return fs_replace_file(path, text, strlen(text), 0600, err);
}

const char *container_state_scratch_dir(const struct container *container)
{
	return json_string_value(json_object_get(container->state, "scratchDir"));
}

static char **strings_of(const json_t *array)
{
	size_t count = json_array_size(array);
	char **strings = calloc(count + 1, sizeof(char *));

	if (!strings)
		abort();
	for (size_t i = 0; i < count; i++)
		strings[i] = (char *)json_string_value(json_array_get(array, i));
	return strings;
}

int container_state_process(const struct container *container, struct container_process *out,
			    struct ck_error *err)
{
	const json_t *process = json_object_get(container->state, "process");
	const json_t *groups = json_object_get(process, "groups");
	const char *caps = json_string_value(json_object_get(process, "capabilities"));
	gid_t *group_ids;

	*out = (struct container_process){.stdio = {-1, -1, -1}};
	if (!json_is_object(process) || !caps ||
	    !json_string_value(json_object_get(process, "cwd")))
		return ck_error_set(err, EINVAL, "container %s: state has no process",
				    container->id);
	group_ids = calloc(json_array_size(groups) + 1, sizeof(gid_t));
	if (!group_ids)
		abort();
	for (size_t i = 0; i < json_array_size(groups); i++)
		group_ids[i] = (gid_t)json_integer_value(json_array_get(groups, i));
	out->argv = strings_of(json_object_get(process, "args"));
	out->env = strings_of(json_object_get(process, "env"));
	out->cwd = json_string_value(json_object_get(process, "cwd"));
	out->uid = (uid_t)json_integer_value(json_object_get(process, "uid"));
	out->gid = (gid_t)json_integer_value(json_object_get(process, "gid"));
	out->groups = group_ids;
	out->group_count = json_array_size(groups);
	out->capabilities = strtoull(caps, NULL, 16);
	out->no_new_privs = json_is_true(json_object_get(process, "noNewPrivs"));
	out->seccomp_default = strcmp(json_string_value(json_object_get(process, "seccomp")) ?: "",
				      "RuntimeDefault") == 0;
	return 0;
}

void container_state_process_clear(struct container_process *process)
{
	free((void *)process->argv);
	free((void *)process->env);
	free((void *)process->groups);
	*process = (struct container_process){0};
}

static int load_state(const char *run_dir, const char *id, struct container **out,
		      struct ck_error *err)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
	struct container *container;
	json_error_t parse_error;
	json_t *state;
	int r;

	if (asprintf(&dir, "%s/containers/%s", run_dir, id) < 0 ||
	    asprintf(&path, "%s/" STATE_FILE, dir) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	r = fs_read_file(path, &text, NULL, err);
	if (r < 0)
		return r == -ENOENT ? ck_error_set(err, ENOENT, "no container %s", id) : r;
	state = json_loads(text, 0, &parse_error);
	if (!json_is_object(state) || json_integer_value(json_object_get(state, "pid")) <= 0) {
		json_decref(state);
		return ck_error_set(err, EINVAL, "%s: not a container state", path);
	}
	container = calloc(1, sizeof(*container));
	if (!container)
		abort();
	container->id = strdup(id);
	container->state_dir = steal_ptr(&dir);
	container->state = state;
	container->pid = (pid_t)json_integer_value(json_object_get(state, "pid"));
	container->start_time = (uint64_t)json_integer_value(json_object_get(state, "startTime"));
	container->stop_signal = (int)json_integer_value(json_object_get(state, "stopSignal"));
	container->pidfd = -1;
	container->recorded_status = -1;
	container->adopted = true;
	*out = container;
	return 0;
}

/* The wait status of a process that has exited but was not reaped: field 52 of its stat. */
static int zombie_exit_status(pid_t pid)
{
	char path[64], text[2048];
	_cleanup_close_ int fd = -1;
	const char *p;
	ssize_t n;
	int status;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, text, sizeof(text) - 1)) <= 0)
		return -1;
	text[n] = '\0';
	p = strrchr(text, ')');
	for (int field = 2; p && field < 52; field++)
		p = strchr(p + 1, ' ');
	return p && sscanf(p + 1, "%d", &status) == 1 ? status : -1;
}

/* The pidfd is opened before the start time is compared, so the process it refers to is the
 * one checked, even if the pid is reused a moment later. */
static void open_process(struct container *container)
{
	uint64_t start_time;
	int fd = pidfd_open(container->pid, 0);

	if (fd < 0)
		return;
	if (process_start_time(container->pid, &start_time) < 0 ||
	    start_time != container->start_time) {
		close(fd);
		return;
	}
	container->pidfd = fd;
	if (!container_running(container))
		container->recorded_status = zombie_exit_status(container->pid);
}

bool container_running(const struct container *container)
{
	struct pollfd pfd = {.fd = container->pidfd, .events = POLLIN};

	return container->pidfd >= 0 && poll(&pfd, 1, 0) == 0;
}

int container_adopt(const char *run_dir, const char *id, struct container **out,
		    struct ck_error *err)
{
	int r = load_state(run_dir, id, out, err);

	if (r == 0)
		open_process(*out);
	return r;
}

int container_adopt_all(const char *run_dir, struct container ***out, size_t *count,
			struct ck_error *err)
{
	_cleanup_free_ char *parent = NULL;
	struct container **list = NULL;
	size_t n = 0;
	struct dirent *entry;
	DIR *dir;

	*out = NULL;
	*count = 0;
	if (asprintf(&parent, "%s/containers", run_dir) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	dir = opendir(parent);
	if (!dir)
		return errno == ENOENT ? 0 : ck_error_errno(err, errno, "open %s", parent);
	while ((entry = readdir(dir))) {
		struct container *container;
		struct ck_error skip;

		if (entry->d_name[0] == '.')
			continue;
		if (load_state(run_dir, entry->d_name, &container, &skip) < 0)
			continue; /* a start that never finished: nothing runs there */
		open_process(container);
		list = realloc(list, (n + 1) * sizeof(*list));
		if (!list)
			abort();
		list[n++] = container;
	}
	closedir(dir);
	*out = list;
	*count = n;
	return 0;
}

int container_remove_stopped(const char *run_dir, const char *id, struct ck_error *err)
{
	struct container *container;
	int r = container_adopt(run_dir, id, &container, err);

	if (r < 0)
		return r;
	if (container_running(container)) {
		container_free(container);
		return ck_error_set(err, EBUSY, "container %s is running", id);
	}
	return container_remove(container, err);
}

char **container_images_in_use(const char *run_dir, struct ck_error *err)
{
	struct container **containers = NULL;
	size_t count = 0, n = 0;
	char **ids;

	if (container_adopt_all(run_dir, &containers, &count, err) < 0)
		return NULL;
	ids = calloc(count + 1, sizeof(*ids));
	if (!ids)
		abort();
	for (size_t i = 0; i < count; i++) {
		const char *id = json_string_value(json_object_get(
		    json_object_get(containers[i]->state, "annotations"), "imageID"));
		if (id && containers[i]->pidfd >= 0 && !(ids[n++] = strdup(id)))
			abort();
		container_free(containers[i]);
	}
	free(containers);
	return ids;
}
