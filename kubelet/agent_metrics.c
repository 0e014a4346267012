/* The agent's metrics: see agent_metrics.h. */
#include "kubelet/agent_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

/* Pod starts take milliseconds when the image is there, seconds when it is pulled. */
static const double duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define BUCKET_COUNT (sizeof(duration_buckets) / sizeof(duration_buckets[0]))

struct histogram {
	uint64_t counts[BUCKET_COUNT]; /* observations that fell into each bucket (not summed) */
	uint64_t count;
	double sum;
};

struct error_count {
	char *operation;
	uint64_t count;
};

struct agent_metrics {
	char *run_dir;
	char *root;
	pthread_mutex_t lock; /* over everything below */
	struct histogram pod_start, pod_sync;
	struct error_count *errors; /* sorted by operation */
	size_t error_count;
};

struct agent_metrics *agent_metrics_new(const char *run_dir, const char *root)
{
	struct agent_metrics *metrics = calloc(1, sizeof(*metrics));

	if (!metrics)
		abort();
	metrics->run_dir = strdup(run_dir);
	metrics->root = strdup(root);
	if (!metrics->run_dir || !metrics->root)
		abort();
	pthread_mutex_init(&metrics->lock, NULL);
	return metrics;
}

void agent_metrics_free(struct agent_metrics *metrics)
{
	if (!metrics)
		return;
	for (size_t i = 0; i < metrics->error_count; i++)
		free(metrics->errors[i].operation);
	free(metrics->errors);
	pthread_mutex_destroy(&metrics->lock);
	free(metrics->run_dir);
	free(metrics->root);
	free(metrics);
}

/* --- Recording ---------------------------------------------------------------------------- */

static void observe(struct agent_metrics *metrics, struct histogram *histogram, double value)
{
	size_t bucket = 0;

	while (bucket < BUCKET_COUNT && value > duration_buckets[bucket])
		bucket++;
	pthread_mutex_lock(&metrics->lock);
	if (bucket < BUCKET_COUNT)
		histogram->counts[bucket]++;
	histogram->count++;
	histogram->sum += value;
	pthread_mutex_unlock(&metrics->lock);
}

void agent_metrics_pod_started(struct agent_metrics *metrics, double seconds)
{
	observe(metrics, &metrics->pod_start, seconds);
}

void agent_metrics_pod_synced(struct agent_metrics *metrics, double seconds)
{
	observe(metrics, &metrics->pod_sync, seconds);
}

void agent_metrics_api_error(struct agent_metrics *metrics, const char *operation)
{
	size_t i = 0;
	int order = 1;

	pthread_mutex_lock(&metrics->lock);
	while (i < metrics->error_count &&
	       (order = strcmp(metrics->errors[i].operation, operation)) < 0)
		i++;
	if (order != 0) {
		metrics->errors =
		    realloc(metrics->errors, (metrics->error_count + 1) * sizeof(*metrics->errors));
		if (!metrics->errors)
			abort();
		memmove(&metrics->errors[i + 1], &metrics->errors[i],
			(metrics->error_count - i) * sizeof(*metrics->errors));
		metrics->errors[i] = (struct error_count){.operation = strdup(operation)};
		if (!metrics->errors[i].operation)
			abort();
		metrics->error_count++;
	}
	metrics->errors[i].count++;
	pthread_mutex_unlock(&metrics->lock);
}

/* --- The text format ---------------------------------------------------------------------- */

/* Go's strconv.FormatFloat(value, 'g', -1, 64), which Prometheus' Go client writes: the fewest
 * digits that read back as the same double, in exponent form when the exponent is below -4 or
 * at least 6 (the 'g' threshold of the shortest form). */
static void put_number(struct buf *out, double value)
{
	char digits[40];
	int exponent;

	if (isnan(value)) {
		buf_puts(out, "NaN");
		return;
	}
	if (isinf(value)) {
		buf_puts(out, value > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (value == 0) {
		buf_puts(out, "0");
		return;
	}
	for (int precision = 0; precision < 17; precision++) {
		snprintf(digits, sizeof(digits), "%.*e", precision, value);
		if (strtod(digits, NULL) == value)
			break;
	}
	/* digits is "[-]d[.ddd]e[+-]xx"; its significant digits decide the fixed form. */
	char *e = strchr(digits, 'e');
	exponent = atoi(e + 1);
	if (exponent < -4 || exponent >= 6) {
		buf_puts(out, digits);
		return;
	}
	int significant = 0;
	for (const char *c = digits; c < e; c++)
		significant += *c >= '0' && *c <= '9';
	int decimals = significant - 1 - exponent;
	buf_printf(out, "%.*f", decimals > 0 ? decimals : 0, value);
}

/* A label value with backslash, double quote and newline escaped, as the format asks. */
static void put_label_value(struct buf *out, const char *value)
{
	buf_putc(out, '"');
	for (const char *c = value; *c; c++) {
		if (*c == '\\')
			buf_puts(out, "\\\\");
		else if (*c == '"')
			buf_puts(out, "\\\"");
		else if (*c == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *c);
	}
	buf_putc(out, '"');
}

static void put_header(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_container_sample(struct buf *out, const char *name, const struct container_usage *c,
				 double value)
{
	buf_printf(out, "%s{namespace=", name);
	put_label_value(out, c->namespace);
	buf_puts(out, ",pod=");
	put_label_value(out, c->pod);
	buf_puts(out, ",container=");
	put_label_value(out, c->container);
	buf_puts(out, "} ");
	put_number(out, value);
	buf_putc(out, '\n');
}

static void put_histogram(struct buf *out, const char *name, const char *help,
			  const struct histogram *histogram)
{
	uint64_t cumulative = 0;

	put_header(out, name, "histogram", help);
	for (size_t i = 0; i < BUCKET_COUNT; i++) {
		cumulative += histogram->counts[i];
		buf_printf(out, "%s_bucket{le=\"", name);
		put_number(out, duration_buckets[i]);
		buf_printf(out, "\"} %" PRIu64 "\n", cumulative);
	}
	buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum ", name, histogram->count,
		   name);
	put_number(out, histogram->sum);
	buf_printf(out, "\n%s_count %" PRIu64 "\n", name, histogram->count);
}

void agent_metrics_render(struct agent_metrics *metrics, const struct container_usage *containers,
			  size_t count, struct buf *out)
{
	pthread_mutex_lock(&metrics->lock);
	put_header(out, "ckube_api_errors_total", "counter",
		   "Calls of the node agent to the API server that failed, by operation.");
	for (size_t i = 0; i < metrics->error_count; i++) {
		buf_puts(out, "ckube_api_errors_total{operation=");
		put_label_value(out, metrics->errors[i].operation);
		buf_printf(out, "} %" PRIu64 "\n", metrics->errors[i].count);
	}
	put_header(out, "ckube_container_cpu_usage_seconds_total", "counter",
		   "CPU time used by a running container (its cgroup's cpu.stat usage_usec).");
	for (size_t i = 0; i < count; i++)
		put_container_sample(out, "ckube_container_cpu_usage_seconds_total", &containers[i],
				     (double)containers[i].usage.cpu_usec / 1e6);
	put_header(out, "ckube_container_memory_working_set_bytes", "gauge",
		   "Working set of a running container: memory.current minus inactive_file, or "
		   "its processes' resident memory without the memory controller.");
	for (size_t i = 0; i < count; i++)
		put_container_sample(out, "ckube_container_memory_working_set_bytes",
				     &containers[i], (double)containers[i].usage.working_set);
	put_histogram(out, "ckube_pod_start_duration_seconds",
		      "Time from the agent seeing a pod to all its containers running.",
		      &metrics->pod_start);
	put_histogram(out, "ckube_pod_sync_duration_seconds", "Time one sync of one pod took.",
		      &metrics->pod_sync);
	pthread_mutex_unlock(&metrics->lock);
	put_header(out, "ckube_running_containers", "gauge",
		   "Containers of pods whose process runs on this node.");
	buf_printf(out, "ckube_running_containers %zu\n", count);
}

char *agent_metrics_scrape(struct agent_metrics *metrics)
{
	struct container_usage *containers = NULL;
	struct ck_error err = {0};
	struct buf out = {0};
	size_t count = 0;

	/* Without the containers the agent's own metrics are still worth answering. */
	if (usage_containers_read(metrics->run_dir, metrics->root, &containers, &count, &err) < 0)
		log_warn("metrics: containers: %s", err.message);
	agent_metrics_render(metrics, containers, count, &out);
	usage_containers_free(containers, count);
	return buf_steal(&out);
}
