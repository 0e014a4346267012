/* Resource metrics (metrics.k8s.io/v1beta1 PodMetrics and NodeMetrics), what `kubectl top`
 * reads. Node agents report them with PUT; the API server keeps the latest report of each pod
 * and node in memory, like metrics-server, and forgets reports that have not been renewed. */
#pragma once

struct api_call;
struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *metrics);

/* GET (list, get) and PUT (report) on pods and nodes of metrics.k8s.io. */
void metrics_handle(struct api_call *call);
