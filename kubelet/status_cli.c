/* `ckube status`: what the node agent on this machine has and does, asked over its local status
 * socket (status_socket.h), for a person debugging the node. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/commands.h"
#include "kubelet/status_socket.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/http_client.h"

#define DEFAULT_SOCKET "/run/ckube/ckube.sock"

enum { OPT_SOCKET = 256, OPT_RUN_DIR, OPT_JSON };

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: ckube status [--socket PATH | --run-dir DIR] [--json] [node | pods |\n"
	    "                    pod NAME[.NAMESPACE] [-n NAMESPACE] | services]\n\n"
	    "Shows what the node agent on this machine runs, from its status socket: the node,\n"
	    "a table of its pods (the default: both), or one pod with its containers' ids,\n"
	    "pids, cgroups, network namespace, mounts and the last error of each step; or the\n"
	    "Service proxy's table and its last error.\n"
	    "  --socket PATH      the agent's status socket (default " DEFAULT_SOCKET ")\n"
	    "  --run-dir DIR      the agent's run directory: its socket is DIR/ckube.sock\n"
	    "  --json             the agent's answer as JSON\n"
	    "  -n NAMESPACE       the pod's namespace (default: default)\n");
}

static const char *text_of(const json_t *object, const char *key, const char *fallback)
{
	const char *text = json_string_value(json_object_get(object, key));

	return text && *text ? text : fallback;
}

/* One GET; the decoded JSON of a 200 answer, or NULL after printing why. 404 is "not found"
 * for the caller to word (`missing`), other failures are printed here. */
static json_t *ask(const char *socket, const char *target, bool *missing)
{
	_cleanup_free_ char *body = NULL;
	struct ck_error err = {0};
	json_error_t parse_error;
	json_t *answer;
	int status = status_socket_get(socket, target, &body, NULL, &err);

	if (missing)
		*missing = status == 404;
	if (status < 0) {
		if (err.code == ENOENT || err.code == ECONNREFUSED || err.code == EACCES)
			fprintf(stderr, "ckube status: %s (is ckube running?)\n", err.message);
		else
			fprintf(stderr, "ckube status: %s\n", err.message);
		return NULL;
	}
	answer = json_loads(body, 0, &parse_error);
	if (status == 200 && answer)
		return answer;
	if (status != 404 || !missing)
		fprintf(stderr, "ckube status: GET %s: HTTP %d: %s\n", target, status,
			text_of(answer, "error", body));
	json_decref(answer);
	return NULL;
}

static void print_json(const json_t *value)
{
	_cleanup_free_ char *text = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);

	puts(text ? text : "null");
}

/* --- The Service proxy --------------------------------------------------------------------- */

static void print_services(const json_t *s)
{
	const json_t *chains = json_object_get(s, "loadBalancingChains");
	size_t i;
	json_t *chain;

	printf("Service proxy: %s, %s; %lld Services, %lld ports, %lld endpoints\n",
	       text_of(s, "table", "no table yet"),
	       !json_is_true(json_object_get(s, "listed"))  ? "waiting for the API's lists"
	       : json_is_true(json_object_get(s, "inSync")) ? "in sync"
							    : "NOT in sync",
	       json_integer_value(json_object_get(s, "services")),
	       json_integer_value(json_object_get(s, "servicePorts")),
	       json_integer_value(json_object_get(s, "endpoints")));
	printf("  last sync %s", text_of(s, "lastSync", "never"));
	if (json_string_value(json_object_get(s, "lastError")))
		printf("; last failure %s: %s", text_of(s, "lastFailure", "?"),
		       text_of(s, "lastError", ""));
	printf("\n  load-balancing chains:");
	json_array_foreach (chains, i, chain)
		printf(" %s (%lld)", text_of(chain, "name", "?"),
		       json_integer_value(json_object_get(chain, "users")));
	printf("%s\n", json_array_size(chains) ? "" : " none");
}

/* --- The node and the pods table ---------------------------------------------------------- */

static void print_node(const json_t *node)
{
	printf("Node %s (%s): ckube %s, %lld pods, %lld of %lld containers running, API %s, "
	       "agent up since %s\n",
	       text_of(node, "name", "?"), text_of(node, "ip", "no IP"),
	       text_of(node, "version", "?"), json_integer_value(json_object_get(node, "pods")),
	       json_integer_value(json_object_get(node, "runningContainers")),
	       json_integer_value(json_object_get(node, "containers")),
	       text_of(node, "apiServer", "?"), text_of(node, "startedAt", "?"));
	printf("  run directory %s, cgroup %s\n", text_of(node, "runDir", "?"),
	       text_of(node, "cgroup", "?"));
	if (json_string_value(json_object_get(node, "unenforcedLimits")))
		printf("  %s\n", text_of(node, "unenforcedLimits", ""));
}

static int compare_pods(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(text_of(x, "namespace", ""), text_of(y, "namespace", ""));

	return c ? c : strcmp(text_of(x, "name", ""), text_of(y, "name", ""));
}

#define COLUMNS 6

static void row_of(const json_t *pod, char cells[COLUMNS][256])
{
	long long running = 0, total = 0, restarts = 0;
	size_t i;
	json_t *c;

	json_array_foreach (json_object_get(pod, "containers"), i, c) {
		restarts += json_integer_value(json_object_get(c, "restartCount"));
		if (json_is_true(json_object_get(c, "init")))
			continue;
		total++;
		running += strcmp(text_of(c, "state", ""), "running") == 0;
	}
	snprintf(cells[0], 256, "%s", text_of(pod, "namespace", "?"));
	snprintf(cells[1], 256, "%s", text_of(pod, "name", "?"));
	snprintf(cells[2], 256, "%s", text_of(pod, "phase", "?"));
	snprintf(cells[3], 256, "%s", text_of(pod, "podIP", "<none>"));
	snprintf(cells[4], 256, "%lld/%lld", running, total);
	snprintf(cells[5], 256, "%lld", restarts);
}

/* Cells padded to their column's width, three spaces apart, as kubectl's tables. */
static void print_row(const char *const cells[COLUMNS], const size_t width[COLUMNS])
{
	for (size_t k = 0; k + 1 < COLUMNS; k++)
		printf("%-*s   ", (int)width[k], cells[k]);
	printf("%s\n", cells[COLUMNS - 1]);
}

static void print_pods(json_t *pods)
{
	static const char *const header[COLUMNS] = {"NAMESPACE", "NAME",       "PHASE",
						    "IP",        "CONTAINERS", "RESTARTS"};
	size_t count = json_array_size(pods), width[COLUMNS];
	json_t **sorted = calloc(count + 1, sizeof(*sorted));
	char(*cells)[COLUMNS][256] = calloc(count + 1, sizeof(*cells));

	if (!sorted || !cells)
		abort();
	for (size_t i = 0; i < count; i++)
		sorted[i] = json_array_get(pods, i);
	qsort(sorted, count, sizeof(*sorted), compare_pods);
	for (size_t k = 0; k < COLUMNS; k++)
		width[k] = strlen(header[k]);
	for (size_t i = 0; i < count; i++) {
		row_of(sorted[i], cells[i]);
		for (size_t k = 0; k < COLUMNS; k++)
			if (strlen(cells[i][k]) > width[k])
				width[k] = strlen(cells[i][k]);
	}
	if (count == 0) {
		printf("No pods on this node.\n");
	} else {
		print_row(header, width);
		for (size_t i = 0; i < count; i++) {
			const char *row[COLUMNS];
			for (size_t k = 0; k < COLUMNS; k++)
				row[k] = cells[i][k];
			print_row(row, width);
		}
	}
	free(cells);
	free(sorted);
}

/* --- One pod ------------------------------------------------------------------------------ */

static void print_mounts(const json_t *mounts)
{
	size_t i;
	json_t *m;

	if (json_array_size(mounts) == 0) {
		printf("    Mounts:      <none>\n");
		return;
	}
	json_array_foreach (mounts, i, m) {
		const char *sub_path = text_of(m, "subPath", NULL);
		printf("    %-13s%s from %s%s%s (%s)\n", i == 0 ? "Mounts:" : "",
		       text_of(m, "mountPath", "?"), text_of(m, "name", "?"),
		       sub_path ? " subPath " : "", sub_path ? sub_path : "",
		       json_is_true(json_object_get(m, "readOnly")) ? "ro" : "rw");
	}
}

static void print_container(const json_t *c)
{
	const json_t *pid = json_object_get(c, "pid");
	const char *reason = text_of(c, "reason", NULL);

	printf("  %s%s:\n", text_of(c, "name", "?"),
	       json_is_true(json_object_get(c, "init")) ? " (init)" : "");
	printf("    ID:          %s\n", text_of(c, "id", "<none>"));
	printf("    State:       %s%s%s%s", text_of(c, "state", "?"), reason ? " (" : "",
	       reason ? reason : "", reason ? ")" : "");
	if (json_is_integer(json_object_get(c, "exitCode")))
		printf(", exit code %lld", json_integer_value(json_object_get(c, "exitCode")));
	printf("\n");
	if (json_is_integer(pid))
		printf("    PID:         %lld\n", json_integer_value(pid));
	else
		printf("    PID:         <none>\n");
	printf("    Restarts:    %lld\n", json_integer_value(json_object_get(c, "restartCount")));
	printf("    Image:       %s", text_of(c, "image", "?"));
	if (text_of(c, "imageID", NULL))
		printf(" (%s)", text_of(c, "imageID", ""));
	printf("\n    Cgroup:      %s\n", text_of(c, "cgroup", "<none>"));
	print_mounts(json_object_get(c, "mounts"));
	printf("    Last error:  %s\n", text_of(c, "lastError", "<none>"));
}

static void print_pod(const json_t *pod)
{
	const json_t *errors = json_object_get(pod, "errors");
	const char *key;
	size_t i;
	json_t *value;

	printf("Pod:          %s/%s\n", text_of(pod, "namespace", "?"), text_of(pod, "name", "?"));
	printf("UID:          %s\n", text_of(pod, "uid", "?"));
	printf("Phase:        %s (agent: %s)\n", text_of(pod, "phase", "?"),
	       text_of(pod, "stage", "?"));
	printf("IP:           %s\n", text_of(pod, "podIP", "<none>"));
	printf("Network:      %s\n", json_is_true(json_object_get(pod, "hostNetwork"))
					 ? "the host's"
					 : text_of(pod, "netns", "<none>"));
	printf("Cgroup:       %s\n", text_of(pod, "cgroup", "<none>"));
	printf("Started:      %s\n", text_of(pod, "startTime", "<not yet>"));
	printf("Volumes:%s\n",
	       json_array_size(json_object_get(pod, "volumes")) ? "" : "      <none>");
	json_array_foreach (json_object_get(pod, "volumes"), i, value)
		printf("  %s: %s %s (%s)\n", text_of(value, "name", "?"),
		       text_of(value, "type", "?"), text_of(value, "path", "?"),
		       text_of(value, "state", "?"));
	printf("Containers:\n");
	json_array_foreach (json_object_get(pod, "containers"), i, value)
		print_container(value);
	printf("Errors:%s\n", json_object_size(errors) ? "" : "       <none>");
	json_object_foreach ((json_t *)errors, key, value)
		printf("  %s: %s\n", key, json_string_value(value));
}

/* NAME in the namespace given, or default; without -n, NAME.NAMESPACE also works (the last dot:
 * namespaces have none, pod names may). */
static json_t *find_pod(const char *socket, const char *name, const char *namespace)
{
	const char *dot = strrchr(name, '.');
	_cleanup_free_ char *target = NULL, *escaped_name = http_escape(name);
	_cleanup_free_ char *escaped_ns = http_escape(namespace ? namespace : "default");
	bool missing;
	json_t *pod;

	if (asprintf(&target, "/pods/%s/%s", escaped_ns, escaped_name) < 0)
		abort();
	pod = ask(socket, target, &missing);
	if (pod || !missing)
		return pod;
	if (!namespace && dot && dot != name && dot[1]) {
		_cleanup_free_ char *short_name = strndup(name, (size_t)(dot - name));
		_cleanup_free_ char *split_target = NULL, *escaped_short = http_escape(short_name);
		_cleanup_free_ char *escaped_split = http_escape(dot + 1);

		if (asprintf(&split_target, "/pods/%s/%s", escaped_split, escaped_short) < 0)
			abort();
		pod = ask(socket, split_target, &missing);
		if (pod || !missing)
			return pod;
	}
	fprintf(stderr, "ckube status: pod %s/%s is not on this node\n",
		namespace ? namespace : "default", name);
	return NULL;
}

int status_main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"socket", required_argument, NULL, OPT_SOCKET},
	    {"run-dir", required_argument, NULL, OPT_RUN_DIR},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"namespace", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	_cleanup_free_ char *from_run_dir = NULL;
	const char *socket = DEFAULT_SOCKET, *namespace = NULL, *what;
	_cleanup_json_ json_t *node = NULL, *pods = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "hn:", options, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			socket = optarg;
			break;
		case OPT_RUN_DIR:
			free(from_run_dir);
			if (asprintf(&from_run_dir, "%s/ckube.sock", optarg) < 0)
				abort();
			socket = from_run_dir;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'n':
			namespace
			= optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	what = optind < argc ? argv[optind] : "";
	if (strcmp(what, "services") == 0 && optind + 1 == argc) {
		_cleanup_json_ json_t *services = ask(socket, "/services", NULL);

		if (!services)
			return 1;
		json ? print_json(services) : print_services(services);
		return 0;
	}
	if (strcmp(what, "pod") == 0 && optind + 2 == argc) {
		_cleanup_json_ json_t *pod = find_pod(socket, argv[optind + 1], namespace);

		if (!pod)
			return 1;
		json ? print_json(pod) : print_pod(pod);
		return 0;
	}
	if (optind + (*what ? 1 : 0) != argc ||
	    (*what && strcmp(what, "node") != 0 && strcmp(what, "pods") != 0)) {
		usage(stderr);
		return 2;
	}
	if (strcmp(what, "pods") != 0 && !(node = ask(socket, "/node", NULL)))
		return 1;
	if (strcmp(what, "node") != 0 && !(pods = ask(socket, "/pods", NULL)))
		return 1;
	if (json) {
		_cleanup_json_ json_t *both =
		    node && pods ? json_pack("{s:O, s:O}", "node", node, "pods", pods) : NULL;
		print_json(both ? both : node ? node : pods);
		return 0;
	}
	if (node)
		print_node(node);
	if (node && pods)
		printf("\n");
	if (pods)
		print_pods(pods);
	return 0;
}
