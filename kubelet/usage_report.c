/* Resource usage and its reports: see usage_report.h. */
#include "kubelet/usage_report.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubelet/agent_metrics.h"
#include "kubelet/node_info.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/quantity.h"
#include "lib/timeutil.h"
#include "runtime/container.h"

#define REPORT_INTERVAL_MS 15000
#define REQUEST_TIMEOUT_SECONDS 10
#define METRICS_API "/apis/metrics.k8s.io/v1beta1"

/* --- Parsers ------------------------------------------------------------------------------ */

/* The start of the line after `line`, or the end of the text. */
static const char *next_line(const char *line)
{
	const char *newline = strchr(line, '\n');

	return newline ? newline + 1 : line + strlen(line);
}

int usage_parse_keyed(const char *text, const char *key, int64_t *out)
{
	size_t key_len = strlen(key);

	for (const char *line = text; *line; line = next_line(line)) {
		char *end;
		long long value;

		if (strncmp(line, key, key_len) != 0 || line[key_len] != ' ')
			continue;
		errno = 0;
		value = strtoll(line + key_len + 1, &end, 10);
		if (errno || end == line + key_len + 1 || (*end && *end != '\n'))
			return -EINVAL;
		*out = value;
		return 0;
	}
	return -EINVAL;
}

int usage_parse_proc_stat(const char *text, long ticks_per_second, uint64_t *busy_usec)
{
	/* user nice system idle iowait irq softirq steal; guest time is already within user. */
	unsigned long long field[8];

	if (ticks_per_second <= 0 ||
	    sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &field[0], &field[1],
		   &field[2], &field[3], &field[4], &field[5], &field[6], &field[7]) != 8)
		return -EINVAL;
	uint64_t busy = field[0] + field[1] + field[2] + field[5] + field[6] + field[7];
	*busy_usec = busy / (uint64_t)ticks_per_second * 1000000 +
		     busy % (uint64_t)ticks_per_second * 1000000 / (uint64_t)ticks_per_second;
	return 0;
}

int usage_parse_statm_resident(const char *text, int64_t *pages)
{
	long long size, resident;

	if (sscanf(text, "%lld %lld", &size, &resident) != 2 || resident < 0)
		return -EINVAL;
	*pages = resident;
	return 0;
}

/* --- Reading ------------------------------------------------------------------------------ */

static int read_text(const char *dir, const char *file, char **text, struct ck_error *err)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "%s/%s", dir, file) < 0)
		abort();
	return fs_read_file(path, text, NULL, err);
}

/* The working set without the memory controller: what the cgroup's processes have resident. */
static int resident_of_processes(const char *root, const char *cgroup, int64_t *out,
				 struct ck_error *err)
{
	_cleanup_free_ char *procs = NULL;
	const long page_size = sysconf(_SC_PAGESIZE);
	int64_t total = 0;
	int r = read_text(cgroup, "cgroup.procs", &procs, err);

	if (r < 0)
		return r;
	for (char *p = procs, *end; *p; p = end) {
		_cleanup_free_ char *path = NULL, *statm = NULL;
		long pid = strtol(p, &end, 10);
		int64_t pages;

		if (end == p)
			break;
		if (asprintf(&path, "%s/proc/%ld/statm", root, pid) < 0)
			abort();
		/* A process that exits meanwhile has nothing resident any more. */
		if (fs_read_file(path, &statm, NULL, NULL) == 0 &&
		    usage_parse_statm_resident(statm, &pages) == 0)
			total += pages * page_size;
	}
	*out = total;
	return 0;
}

int usage_read_cgroup(const char *root, const char *cgroup, struct cgroup_usage *out,
		      struct ck_error *err)
{
	_cleanup_free_ char *cpu = NULL, *current = NULL, *stat = NULL;
	int64_t usage_usec, bytes, inactive_file = 0;
	int r = read_text(cgroup, "cpu.stat", &cpu, err);

	if (r < 0)
		return r;
	if (usage_parse_keyed(cpu, "usage_usec", &usage_usec) < 0 || usage_usec < 0)
		return ck_error_set(err, EINVAL, "%s/cpu.stat: no usage_usec", cgroup);
	out->cpu_usec = (uint64_t)usage_usec;
	r = read_text(cgroup, "memory.current", &current, err);
	if (r == -ENOENT)
		return resident_of_processes(root, cgroup, &out->working_set, err);
	if (r < 0)
		return r;
	if (sscanf(current, "%" SCNd64, &bytes) != 1)
		return ck_error_set(err, EINVAL, "%s/memory.current: not a number", cgroup);
	r = read_text(cgroup, "memory.stat", &stat, err);
	if (r < 0)
		return r;
	if (usage_parse_keyed(stat, "inactive_file", &inactive_file) < 0)
		return ck_error_set(err, EINVAL, "%s/memory.stat: no inactive_file", cgroup);
	out->working_set = bytes > inactive_file ? bytes - inactive_file : 0;
	return 0;
}

static void container_usage_clear(struct container_usage *c)
{
	free(c->id);
	free(c->pod_uid);
	free(c->namespace);
	free(c->pod);
	free(c->container);
	free(c->cgroup);
}

void usage_containers_free(struct container_usage *containers, size_t count)
{
	for (size_t i = 0; i < count; i++)
		container_usage_clear(&containers[i]);
	free(containers);
}

static int compare_containers(const void *a, const void *b)
{
	const struct container_usage *x = a, *y = b;
	int c = strcmp(x->namespace, y->namespace);

	if (!c)
		c = strcmp(x->pod, y->pod);
	if (!c)
		c = strcmp(x->pod_uid, y->pod_uid);
	if (!c)
		c = strcmp(x->container, y->container);
	return c ? c : strcmp(x->id, y->id);
}

/* A running container of a pod, with its cgroup read; false for anything else (a `ckube run`
 * container, one that has exited, a cgroup gone meanwhile). */
static bool describe_container(const struct container *run, const char *root,
			       struct container_usage *out)
{
	const json_t *annotations = json_object_get(run->state, "annotations");
	const char *uid = json_string_value(json_object_get(annotations, "podUID"));
	const char *namespace = json_string_value(json_object_get(annotations, "podNamespace"));
	const char *pod = json_string_value(json_object_get(annotations, "podName"));
	const char *name = json_string_value(json_object_get(annotations, "containerName"));
	const char *cgroup = json_string_value(json_object_get(run->state, "cgroup"));
	struct cgroup_usage usage;

	if (!uid || !namespace || !pod || !name || !cgroup || !container_running(run) ||
	    usage_read_cgroup(root, cgroup, &usage, NULL) < 0)
		return false;
	*out = (struct container_usage){.id = strdup(run->id),
					.pod_uid = strdup(uid),
					.namespace = strdup(namespace),
					.pod = strdup(pod),
					.container = strdup(name),
					.cgroup = strdup(cgroup),
					.pid = run->pid,
					.usage = usage};
	if (!out->id || !out->pod_uid || !out->namespace || !out->pod || !out->container ||
	    !out->cgroup)
		abort();
	return true;
}

int usage_containers_read(const char *run_dir, const char *root, struct container_usage **out,
			  size_t *count, struct ck_error *err)
{
	struct container **runs;
	size_t run_count, n = 0;
	int r = container_adopt_all(run_dir, &runs, &run_count, err);

	*out = NULL;
	*count = 0;
	if (r < 0)
		return r;
	struct container_usage *list = calloc(run_count + 1, sizeof(*list));
	if (!list)
		abort();
	for (size_t i = 0; i < run_count; i++) {
		if (describe_container(runs[i], root, &list[n]))
			n++;
		container_free(runs[i]);
	}
	free(runs);
	qsort(list, n, sizeof(*list), compare_containers);
	*out = list;
	*count = n;
	return 0;
}

static int read_node(const char *root, struct usage_sample *out, struct ck_error *err)
{
	_cleanup_free_ char *stat_path = NULL, *meminfo_path = NULL, *stat = NULL, *meminfo = NULL;
	int64_t total, available;
	int r;

	if (asprintf(&stat_path, "%s/proc/stat", root) < 0 ||
	    asprintf(&meminfo_path, "%s/proc/meminfo", root) < 0)
		abort();
	r = fs_read_file(stat_path, &stat, NULL, err);
	if (r == 0)
		r = fs_read_file(meminfo_path, &meminfo, NULL, err);
	if (r < 0)
		return r;
	if (usage_parse_proc_stat(stat, sysconf(_SC_CLK_TCK), &out->node_cpu_usec) < 0)
		return ck_error_set(err, EINVAL, "%s: no cpu line", stat_path);
	if (node_parse_meminfo(meminfo, &total, &available) < 0 || available < 0)
		return ck_error_set(err, EINVAL, "%s: no MemTotal or MemAvailable", meminfo_path);
	out->node_working_set = total - available;
	return 0;
}

int usage_sample_read(const char *run_dir, const char *root, struct usage_sample *out,
		      struct ck_error *err)
{
	struct timespec now;
	int r;

	*out = (struct usage_sample){0};
	clock_gettime(CLOCK_MONOTONIC, &now);
	out->monotonic_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	out->wall = time(NULL);
	r = read_node(root, out, err);
	if (r == 0)
		r = usage_containers_read(run_dir, root, &out->containers, &out->count, err);
	return r;
}

void usage_sample_clear(struct usage_sample *sample)
{
	usage_containers_free(sample->containers, sample->count);
	*sample = (struct usage_sample){0};
}

/* --- Rates and their texts ---------------------------------------------------------------- */

uint64_t usage_nanocores(uint64_t before_usec, uint64_t after_usec, int64_t window_ns)
{
	if (after_usec < before_usec || window_ns <= 0)
		return 0;
	/* usec * 1000 is ns of CPU time; per ns of window that is cores, 1e9 nanocores each.
	 * The product outgrows 64 bits after about 18 CPU-seconds. */
	unsigned __int128 cpu_ns = (unsigned __int128)(after_usec - before_usec) * 1000;
	return (uint64_t)(cpu_ns * 1000000000 / (uint64_t)window_ns);
}

const char *usage_format_nanocores(uint64_t nanocores, char out[USAGE_TEXT_SIZE])
{
	static const struct {
		uint64_t scale;
		const char *suffix;
	} units[] = {{1000000000, ""}, {1000000, "m"}, {1000, "u"}, {1, "n"}};

	if (nanocores == 0) {
		snprintf(out, USAGE_TEXT_SIZE, "0");
		return out;
	}
	for (size_t i = 0;; i++)
		if (nanocores % units[i].scale == 0) {
			snprintf(out, USAGE_TEXT_SIZE, "%" PRIu64 "%s", nanocores / units[i].scale,
				 units[i].suffix);
			return out;
		}
}

/* `whole` and a fraction of `digits` digits without its trailing zeros, then `unit`. */
static int format_fraction(char *out, size_t len, int64_t whole, int64_t fraction, int digits,
			   const char *unit)
{
	char text[16];

	if (!fraction)
		return snprintf(out, len, "%" PRId64 "%s", whole, unit);
	snprintf(text, sizeof(text), "%0*" PRId64, digits, fraction);
	for (size_t end = strlen(text); end > 0 && text[end - 1] == '0'; end--)
		text[end - 1] = '\0';
	return snprintf(out, len, "%" PRId64 ".%s%s", whole, text, unit);
}

const char *usage_format_duration(int64_t ns, char out[USAGE_TEXT_SIZE])
{
	const int64_t second = 1000000000, minute = 60 * second, hour = 60 * minute;
	char seconds[32];

	if (ns <= 0) {
		snprintf(out, USAGE_TEXT_SIZE, "0s");
	} else if (ns < 1000) {
		snprintf(out, USAGE_TEXT_SIZE, "%" PRId64 "ns", ns);
	} else if (ns < 1000000) {
		format_fraction(out, USAGE_TEXT_SIZE, ns / 1000, ns % 1000, 3, "µs");
	} else if (ns < second) {
		format_fraction(out, USAGE_TEXT_SIZE, ns / 1000000, ns % 1000000, 6, "ms");
	} else {
		format_fraction(seconds, sizeof(seconds), ns % minute / second, ns % second, 9,
				"s");
		if (ns >= hour)
			snprintf(out, USAGE_TEXT_SIZE, "%" PRId64 "h%" PRId64 "m%s", ns / hour,
				 ns % hour / minute, seconds);
		else if (ns >= minute)
			snprintf(out, USAGE_TEXT_SIZE, "%" PRId64 "m%s", ns / minute, seconds);
		else
			snprintf(out, USAGE_TEXT_SIZE, "%s", seconds);
	}
	return out;
}

/* --- Reports ------------------------------------------------------------------------------ */

static json_t *usage_json(uint64_t nanocores, int64_t working_set)
{
	char cpu[USAGE_TEXT_SIZE], memory[QUANTITY_TEXT_SIZE];

	return json_pack("{s:s, s:s}", "cpu", usage_format_nanocores(nanocores, cpu), "memory",
			 quantity_format_memory(working_set, memory));
}

/* Fields every report has: when (the later reading) and over which window. */
static json_t *report_new(const char *kind, const struct usage_sample *before,
			  const struct usage_sample *after)
{
	char timestamp[TIMEUTIL_TEXT_SIZE], window[USAGE_TEXT_SIZE];

	return json_pack("{s:s, s:s, s:{}, s:s, s:s}", "kind", kind, "apiVersion",
			 "metrics.k8s.io/v1beta1", "metadata", "timestamp",
			 timeutil_format_rfc3339(after->wall, timestamp), "window",
			 usage_format_duration(after->monotonic_ns - before->monotonic_ns, window));
}

json_t *usage_node_metrics(const char *node_name, const struct usage_sample *before,
			   const struct usage_sample *after)
{
	json_t *report = report_new("NodeMetrics", before, after);

	json_object_set_new(json_object_get(report, "metadata"), "name", json_string(node_name));
	json_object_set_new(report, "usage",
			    usage_json(usage_nanocores(before->node_cpu_usec, after->node_cpu_usec,
						       after->monotonic_ns - before->monotonic_ns),
				       after->node_working_set));
	return report;
}

static const struct container_usage *find_by_id(const struct usage_sample *sample, const char *id)
{
	for (size_t i = 0; i < sample->count; i++)
		if (strcmp(sample->containers[i].id, id) == 0)
			return &sample->containers[i];
	return NULL;
}

json_t *usage_pod_metrics(const struct usage_sample *before, const struct usage_sample *after)
{
	const int64_t window = after->monotonic_ns - before->monotonic_ns;
	json_t *reports = json_array();
	json_t *report = NULL;
	const struct container_usage *pod = NULL;

	/* The containers come sorted by pod: each run of one pod uid makes one report. */
	for (size_t i = 0; i < after->count; i++) {
		const struct container_usage *c = &after->containers[i];
		const struct container_usage *earlier = find_by_id(before, c->id);

		if (!earlier || earlier->usage.cpu_usec > c->usage.cpu_usec)
			continue; /* a rate needs the same run twice */
		if (!pod || strcmp(pod->pod_uid, c->pod_uid) != 0) {
			pod = c;
			report = report_new("PodMetrics", before, after);
			json_t *metadata = json_object_get(report, "metadata");
			json_object_set_new(metadata, "name", json_string(c->pod));
			json_object_set_new(metadata, "namespace", json_string(c->namespace));
			json_object_set_new(report, "containers", json_array());
			json_array_append_new(reports, report);
		}
		json_array_append_new(
		    json_object_get(report, "containers"),
		    json_pack("{s:s, s:o}", "name", c->container, "usage",
			      usage_json(usage_nanocores(earlier->usage.cpu_usec, c->usage.cpu_usec,
							 window),
					 c->usage.working_set)));
	}
	return reports;
}

/* --- The reporter thread ------------------------------------------------------------------ */

struct usage_reporter {
	char *node_name;
	char *run_dir;
	int interval_ms;
	struct agent_metrics *metrics;
	struct http_client *client;
	pthread_t thread;
	pthread_mutex_t lock; /* with `wake`: stop ends a wait early */
	pthread_cond_t wake;
	atomic_bool stopping;
	char *failing; /* the failure being repeated, logged once */
};

/* Logs a failure once while it repeats, and its end. */
static void note_outcome(struct usage_reporter *reporter, const char *failure)
{
	if ((!reporter->failing && !failure) ||
	    (reporter->failing && failure && strcmp(reporter->failing, failure) == 0))
		return;
	if (failure)
		log_warn("node %s: usage report: %s", reporter->node_name, failure);
	else
		log_info("node %s: usage reports reach the API server again", reporter->node_name);
	free(reporter->failing);
	reporter->failing = failure ? strdup(failure) : NULL;
}

/* PUTs one report where its metadata says; 0, or -errno with `err`. A pod the API no longer
 * has (404) is no failure: it was deleted since the reading. */
static int put_report(struct usage_reporter *reporter, const json_t *report, struct ck_error *err)
{
	const char *namespace = json_path_string(report, "metadata.namespace");
	_cleanup_free_ char *name = http_escape(json_path_string(report, "metadata.name"));
	_cleanup_free_ char *ns = namespace ? http_escape(namespace) : NULL;
	_cleanup_free_ char *path = NULL, *body = json_dump_compact(report);
	struct http_response response;
	int r;

	if ((ns ? asprintf(&path, METRICS_API "/namespaces/%s/pods/%s", ns, name)
		: asprintf(&path, METRICS_API "/nodes/%s", name)) < 0)
		abort();
	struct http_request request = {.method = "PUT",
				       .path = path,
				       .body = body,
				       .body_len = strlen(body),
				       .timeout_seconds = REQUEST_TIMEOUT_SECONDS,
				       .cancel = &reporter->stopping};
	r = http_client_request(reporter->client, &request, &response, err);
	if (r == 0 && response.status / 100 != 2 && !(ns && response.status == 404)) {
		_cleanup_json_ json_t *status = json_loadb(
		    response.body.data ? response.body.data : "", response.body.len, 0, NULL);
		const char *why = json_string_value(json_object_get(status, "message"));
		r = ck_error_set(err, EIO, "PUT %s: HTTP %ld: %s", path, response.status,
				 why ? why : "no message");
	}
	http_response_free(&response);
	if (r < 0 && reporter->metrics && !atomic_load(&reporter->stopping))
		agent_metrics_api_error(reporter->metrics, "report_usage");
	return r;
}

static void report(struct usage_reporter *reporter, const struct usage_sample *before,
		   const struct usage_sample *after)
{
	_cleanup_json_ json_t *node = usage_node_metrics(reporter->node_name, before, after);
	_cleanup_json_ json_t *pods = usage_pod_metrics(before, after);
	struct ck_error err = {0};
	size_t i;
	json_t *pod;

	/* Without the node's report the API server is away: the pods can wait for the next. */
	if (put_report(reporter, node, &err) < 0) {
		note_outcome(reporter, err.message);
		return;
	}
	/* One pod's refused report does not hold back the others'; the first failure is told. */
	json_array_foreach (pods, i, pod) {
		struct ck_error pod_err = {0};

		if (put_report(reporter, pod, &pod_err) < 0 && !err.code)
			err = pod_err;
	}
	note_outcome(reporter, err.code ? err.message : NULL);
}

/* Waits `ms` on the monotonic clock, or less when stopped. */
static void wait_ms(struct usage_reporter *reporter, int64_t ms)
{
	struct timespec until;

	until = timeutil_after_ms(CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&reporter->lock);
	while (!atomic_load(&reporter->stopping) &&
	       pthread_cond_timedwait(&reporter->wake, &reporter->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&reporter->lock);
}

static void *run(void *arg)
{
	struct usage_reporter *reporter = arg;
	struct usage_sample before = {0}, after = {0};
	bool have_before = false;

	while (!atomic_load(&reporter->stopping)) {
		struct ck_error err = {0};

		if (usage_sample_read(reporter->run_dir, "", &after, &err) < 0) {
			note_outcome(reporter, err.message);
			usage_sample_clear(&after);
		} else {
			if (have_before)
				report(reporter, &before, &after);
			usage_sample_clear(&before);
			before = after;
			after = (struct usage_sample){0};
			have_before = true;
		}
		wait_ms(reporter, reporter->interval_ms);
	}
	usage_sample_clear(&before);
	return NULL;
}

static void reporter_free(struct usage_reporter *reporter)
{
	http_client_free(reporter->client);
	pthread_mutex_destroy(&reporter->lock);
	pthread_cond_destroy(&reporter->wake);
	free(reporter->node_name);
	free(reporter->run_dir);
	free(reporter->failing);
	free(reporter);
}

int usage_reporter_start(const struct usage_reporter_config *config, struct usage_reporter **out,
			 struct ck_error *err)
{
	struct usage_reporter *reporter = calloc(1, sizeof(*reporter));
	pthread_condattr_t attr;
	int r;

	if (!reporter)
		abort();
	reporter->node_name = strdup(config->node_name);
	reporter->run_dir = strdup(config->run_dir);
	if (!reporter->node_name || !reporter->run_dir)
		abort();
	reporter->interval_ms = config->interval_ms > 0 ? config->interval_ms : REPORT_INTERVAL_MS;
	reporter->metrics = config->metrics;
	pthread_mutex_init(&reporter->lock, NULL);
	/* On the monotonic clock: a wall clock set back must not stall the reports. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&reporter->wake, &attr);
	pthread_condattr_destroy(&attr);
	r = http_client_new(&config->api, &reporter->client, err);
	if (r == 0) {
		r = -pthread_create(&reporter->thread, NULL, run, reporter);
		if (r < 0)
			ck_error_errno(err, -r, "start the thread");
	}
	if (r < 0) {
		reporter_free(reporter);
		return ck_error_prefix(err, "node %s: usage reports", config->node_name);
	}
	*out = reporter;
	return 0;
}

void usage_reporter_stop(struct usage_reporter *reporter)
{
	if (!reporter)
		return;
	pthread_mutex_lock(&reporter->lock);
	atomic_store(&reporter->stopping, true);
	pthread_cond_signal(&reporter->wake);
	pthread_mutex_unlock(&reporter->lock);
	pthread_join(reporter->thread, NULL);
	reporter_free(reporter);
}
