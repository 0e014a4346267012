/* The node agent's own metrics, in the Prometheus text exposition format 0.0.4 (what the status
 * socket's /metrics answers):
 *   ckube_api_errors_total{operation}          counter: failed calls to the API server
 *   ckube_container_cpu_usage_seconds_total{namespace,pod,container}   counter
 *   ckube_container_memory_working_set_bytes{namespace,pod,container}  gauge
 *   ckube_pod_start_duration_seconds           histogram: from seeing a pod to its containers
 *                                              running
 *   ckube_pod_sync_duration_seconds            histogram: one sync of one pod
 *   ckube_running_containers                   gauge
 * The container metrics and the running count are read from the kernel at each scrape
 * (usage_report.h), so they can never disagree with it; the rest is recorded as it happens.
 * Families come sorted by name, samples by their labels, numbers as Go's Prometheus client
 * writes them (strconv 'g' shortest: "0.25", "1.048576e+06"). Thread-safe. */
#pragma once

#include <stddef.h>

#include "kubelet/usage_report.h"
#include "lib/buf.h"

struct agent_metrics;

/* Containers are read from `run_dir` with /proc below `root` ("" for the machine). */
struct agent_metrics *agent_metrics_new(const char *run_dir, const char *root);
void agent_metrics_free(struct agent_metrics *metrics);

void agent_metrics_pod_started(struct agent_metrics *metrics, double seconds);
void agent_metrics_pod_synced(struct agent_metrics *metrics, double seconds);
/* `operation` names what failed: "update_pod_status", "report_usage", ... */
void agent_metrics_api_error(struct agent_metrics *metrics, const char *operation);

/* The text with these running containers (sorted as usage_containers_read sorts them). */
void agent_metrics_render(struct agent_metrics *metrics, const struct container_usage *containers,
			  size_t count, struct buf *out);
/* The text with the containers running now. Caller frees. */
char *agent_metrics_scrape(struct agent_metrics *metrics);
