#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver/schema.h"
#include "lib/cleanup.h"

static const char realistic_pod[] =
    "{\"apiVersion\": \"v1\", \"kind\": \"Pod\","
    " \"metadata\": {\"name\": \"web\", \"namespace\": \"default\", \"uid\": \"8a7c\","
    "  \"resourceVersion\": \"42\", \"generation\": 1,"
    "  \"creationTimestamp\": \"2024-05-01T10:00:00Z\","
    "  \"labels\": {\"app\": \"web\"}, \"annotations\": {\"note\": \"x\"},"
    "  \"finalizers\": [\"example.com/keep\"],"
    "  \"ownerReferences\": [{\"apiVersion\": \"apps/v1\", \"kind\": \"ReplicaSet\","
    "   \"name\": \"web-1\", \"uid\": \"77\", \"controller\": true, \"blockOwnerDeletion\": true}],"
    "  \"managedFields\": [{\"manager\": \"kubectl\", \"operation\": \"Apply\","
    "   \"apiVersion\": \"v1\", \"time\": \"2024-05-01T10:00:00Z\", \"fieldsType\": \"FieldsV1\","
    "   \"fieldsV1\": {\"f:spec\": {\"f:containers\": {\"k:{\\\"name\\\":\\\"web\\\"}\": {}}}}}]},"
    " \"spec\": {"
    "  \"restartPolicy\": \"Always\", \"terminationGracePeriodSeconds\": 30,"
    "  \"dnsPolicy\": \"ClusterFirst\", \"nodeSelector\": {\"disk\": \"ssd\"},"
    "  \"serviceAccountName\": \"default\", \"nodeName\": \"node-1\", \"hostNetwork\": false,"
    "  \"securityContext\": {\"runAsUser\": 1000, \"runAsNonRoot\": true, \"fsGroup\": 2000,"
    "   \"supplementalGroups\": [3000], \"sysctls\": [{\"name\": \"net.ipv4.ip_forward\","
    "   \"value\": \"1\"}], \"seccompProfile\": {\"type\": \"RuntimeDefault\"}},"
    "  \"imagePullSecrets\": [{\"name\": \"registry\"}],"
    "  \"affinity\": {\"nodeAffinity\": {\"requiredDuringSchedulingIgnoredDuringExecution\":"
    "   {\"nodeSelectorTerms\": [{\"matchExpressions\": [{\"key\": \"zone\","
    "   \"operator\": \"In\", \"values\": [\"a\", \"b\"]}]}]}},"
    "   \"podAntiAffinity\": {\"preferredDuringSchedulingIgnoredDuringExecution\": [{"
    "   \"weight\": 10, \"podAffinityTerm\": {\"topologyKey\": \"kubernetes.io/hostname\","
    "   \"labelSelector\": {\"matchLabels\": {\"app\": \"web\"}}}}]}},"
    "  \"tolerations\": [{\"key\": \"node.kubernetes.io/not-ready\", \"operator\": \"Exists\","
    "   \"effect\": \"NoExecute\", \"tolerationSeconds\": 300}],"
    "  \"hostAliases\": [{\"ip\": \"10.0.0.1\", \"hostnames\": [\"db\"]}],"
    "  \"dnsConfig\": {\"nameservers\": [\"1.1.1.1\"], \"options\": [{\"name\": \"ndots\","
    "   \"value\": \"2\"}]},"
    "  \"topologySpreadConstraints\": [{\"maxSkew\": 1, \"topologyKey\": \"zone\","
    "   \"whenUnsatisfiable\": \"DoNotSchedule\"}],"
    "  \"volumes\": ["
    "   {\"name\": \"data\", \"hostPath\": {\"path\": \"/srv/data\", \"type\": \"Directory\"}},"
    "   {\"name\": \"cache\", \"emptyDir\": {\"medium\": \"Memory\", \"sizeLimit\": \"64Mi\"}},"
    "   {\"name\": \"share\", \"nfs\": {\"server\": \"10.0.0.2\", \"path\": \"/exports\","
    "    \"readOnly\": true}},"
    "   {\"name\": \"config\", \"configMap\": {\"name\": \"web-config\", \"defaultMode\": 420,"
    "    \"items\": [{\"key\": \"app.conf\", \"path\": \"app.conf\"}]}},"
    "   {\"name\": \"creds\", \"secret\": {\"secretName\": \"web-creds\", \"optional\": true}},"
    "   {\"name\": \"token\", \"projected\": {\"sources\": [{\"serviceAccountToken\":"
    "    {\"path\": \"token\", \"expirationSeconds\": 3600}}, {\"downwardAPI\": {\"items\": [{"
    "    \"path\": \"labels\", \"fieldRef\": {\"fieldPath\": \"metadata.labels\"}}]}}]}},"
    "   {\"name\": \"claim\", \"persistentVolumeClaim\": {\"claimName\": \"web-data\"}}],"
    "  \"initContainers\": [{\"name\": \"init\", \"image\": \"busybox\","
    "   \"command\": [\"sh\", \"-c\", \"true\"]}],"
    "  \"containers\": [{\"name\": \"web\", \"image\": \"nginx:1.25\","
    "   \"imagePullPolicy\": \"IfNotPresent\", \"args\": [\"-g\", \"daemon off;\"],"
    "   \"workingDir\": \"/srv\","
    "   \"ports\": [{\"name\": \"http\", \"containerPort\": 80, \"protocol\": \"TCP\"}],"
    "   \"env\": [{\"name\": \"MODE\", \"value\": \"prod\"},"
    "    {\"name\": \"POD_IP\", \"valueFrom\": {\"fieldRef\": {\"fieldPath\": \"status.podIP\"}}},"
    "    {\"name\": \"PASSWORD\", \"valueFrom\": {\"secretKeyRef\": {\"name\": \"web-creds\","
    "     \"key\": \"password\"}}},"
    "    {\"name\": \"CPU\", \"valueFrom\": {\"resourceFieldRef\": {\"resource\": \"limits.cpu\","
    "     \"divisor\": \"1m\"}}}],"
    "   \"envFrom\": [{\"configMapRef\": {\"name\": \"web-env\"}, \"prefix\": \"APP_\"}],"
    "   \"resources\": {\"limits\": {\"cpu\": \"500m\", \"memory\": \"128Mi\"},"
    "    \"requests\": {\"cpu\": 0.25, \"memory\": 67108864}},"
    "   \"volumeMounts\": [{\"name\": \"data\", \"mountPath\": \"/srv/data\", \"readOnly\": true},"
    "    {\"name\": \"cache\", \"mountPath\": \"/var/cache/nginx\", \"subPath\": \"nginx\"}],"
    "   \"livenessProbe\": {\"httpGet\": {\"path\": \"/healthz\", \"port\": \"http\","
    "    \"httpHeaders\": [{\"name\": \"X-Probe\", \"value\": \"1\"}]},"
    "    \"initialDelaySeconds\": 5, \"periodSeconds\": 10, \"failureThreshold\": 3},"
    "   \"readinessProbe\": {\"tcpSocket\": {\"port\": 80}, \"timeoutSeconds\": 1},"
    "   \"startupProbe\": {\"exec\": {\"command\": [\"cat\", \"/tmp/ready\"]}},"
    "   \"lifecycle\": {\"preStop\": {\"exec\": {\"command\": [\"nginx\", \"-s\", \"quit\"]}},"
    "    \"postStart\": {\"sleep\": {\"seconds\": 1}}},"
    "   \"securityContext\": {\"allowPrivilegeEscalation\": false, \"readOnlyRootFilesystem\":"
    "    true, \"capabilities\": {\"add\": [\"NET_BIND_SERVICE\"], \"drop\": [\"ALL\"]},"
    "    \"privileged\": false, \"runAsGroup\": 1000},"
    "   \"terminationMessagePath\": \"/dev/termination-log\","
    "   \"terminationMessagePolicy\": \"File\", \"stdin\": false, \"tty\": false}]},"
    " \"status\": {\"phase\": \"Running\", \"qosClass\": \"Burstable\","
    "  \"hostIP\": \"192.168.1.10\", \"hostIPs\": [{\"ip\": \"192.168.1.10\"}],"
    "  \"podIP\": \"10.42.0.7\", \"podIPs\": [{\"ip\": \"10.42.0.7\"}],"
    "  \"startTime\": \"2024-05-01T10:00:01Z\","
    "  \"conditions\": [{\"type\": \"Ready\", \"status\": \"True\","
    "   \"lastProbeTime\": null, \"lastTransitionTime\": \"2024-05-01T10:00:09Z\"}],"
    "  \"containerStatuses\": [{\"name\": \"web\", \"ready\": true, \"started\": true,"
    "   \"restartCount\": 2, \"image\": \"nginx:1.25\", \"imageID\": \"sha256:abc\","
    "   \"containerID\": \"ckube://1234\","
    "   \"state\": {\"running\": {\"startedAt\": \"2024-05-01T10:00:05Z\"}},"
    "   \"lastState\": {\"terminated\": {\"exitCode\": 137, \"signal\": 9, \"reason\":"
    "    \"OOMKilled\", \"finishedAt\": \"2024-05-01T10:00:04Z\"}}}]}}";

static const char realistic_service[] =
    "{\"apiVersion\": \"v1\", \"kind\": \"Service\","
    " \"metadata\": {\"name\": \"web\", \"namespace\": \"default\", \"labels\": {\"app\": "
    "\"web\"}},"
    " \"spec\": {\"type\": \"NodePort\", \"selector\": {\"app\": \"web\"},"
    "  \"clusterIP\": \"10.43.0.10\", \"clusterIPs\": [\"10.43.0.10\"],"
    "  \"ipFamilies\": [\"IPv4\"], \"ipFamilyPolicy\": \"SingleStack\","
    "  \"sessionAffinity\": \"ClientIP\","
    "  \"sessionAffinityConfig\": {\"clientIP\": {\"timeoutSeconds\": 10800}},"
    "  \"externalTrafficPolicy\": \"Cluster\", \"internalTrafficPolicy\": \"Cluster\","
    "  \"ports\": [{\"name\": \"http\", \"protocol\": \"TCP\", \"port\": 80,"
    "   \"targetPort\": \"http\", \"nodePort\": 30080},"
    "   {\"name\": \"metrics\", \"port\": 9090, \"targetPort\": 9090, \"appProtocol\": \"http\"}]},"
    " \"status\": {\"loadBalancer\": {\"ingress\": [{\"ip\": \"192.168.1.200\","
    "  \"ports\": [{\"port\": 80, \"protocol\": \"TCP\"}]}]},"
    "  \"conditions\": [{\"type\": \"Ready\", \"status\": \"True\", \"reason\": \"Ok\","
    "   \"message\": \"\", \"lastTransitionTime\": \"2024-05-01T10:00:00Z\"}]}}";

static const char realistic_node[] =
    "{\"apiVersion\": \"v1\", \"kind\": \"Node\","
    " \"metadata\": {\"name\": \"node-1\", \"labels\": {\"kubernetes.io/hostname\": \"node-1\","
    "  \"kubernetes.io/os\": \"linux\"}},"
    " \"spec\": {\"podCIDR\": \"10.42.0.0/24\", \"podCIDRs\": [\"10.42.0.0/24\"],"
    "  \"providerID\": \"ckube://node-1\", \"unschedulable\": false,"
    "  \"taints\": [{\"key\": \"node.kubernetes.io/not-ready\", \"effect\": \"NoSchedule\","
    "   \"timeAdded\": \"2024-05-01T09:59:00Z\"}]},"
    " \"status\": {\"capacity\": {\"cpu\": \"4\", \"memory\": \"8049532Ki\", \"pods\": \"110\","
    "  \"ephemeral-storage\": \"61255492Ki\"},"
    "  \"allocatable\": {\"cpu\": \"3800m\", \"memory\": \"7Gi\", \"pods\": 110},"
    "  \"conditions\": [{\"type\": \"Ready\", \"status\": \"True\", \"reason\": \"KubeletReady\","
    "   \"message\": \"kubelet is posting ready status\","
    "   \"lastHeartbeatTime\": \"2024-05-01T10:00:00Z\","
    "   \"lastTransitionTime\": \"2024-05-01T09:59:30Z\"},"
    "   {\"type\": \"MemoryPressure\", \"status\": \"False\"}],"
    "  \"addresses\": [{\"type\": \"InternalIP\", \"address\": \"192.168.1.10\"},"
    "   {\"type\": \"Hostname\", \"address\": \"node-1\"}],"
    "  \"daemonEndpoints\": {\"kubeletEndpoint\": {\"Port\": 10250}},"
    "  \"nodeInfo\": {\"machineID\": \"m\", \"systemUUID\": \"s\", \"bootID\": \"b\","
    "   \"kernelVersion\": \"6.1.0\", \"osImage\": \"Debian GNU/Linux 12\","
    "   \"containerRuntimeVersion\": \"ckube://0.1\", \"kubeletVersion\": \"v1.30.0\","
    "   \"kubeProxyVersion\": \"v1.30.0\", \"operatingSystem\": \"linux\","
    "   \"architecture\": \"amd64\", \"swap\": {\"capacity\": 0}},"
    "  \"images\": [{\"names\": [\"nginx:1.25\"], \"sizeBytes\": 187654321}],"
    "  \"volumesInUse\": [], \"phase\": \"Running\","
    "  \"runtimeHandlers\": [{\"name\": \"\", \"features\": {\"recursiveReadOnlyMounts\": true,"
    "   \"userNamespaces\": false}}],"
    "  \"features\": {\"supplementalGroupsPolicy\": true}}}";

static json_t *parse(const char *text)
{
	json_error_t error;
	json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
	if (!value)
		fail_msg("test JSON, line %d: %s", error.line, error.text);
	return value;
}

static const struct schema_type *lookup(const char *name)
{
	const struct schema_type *type = schema_lookup(name);
	if (!type)
		fail_msg("type %s is missing", name);
	return type;
}

/* Checks `text` as `type_name` and returns the problems found. */
static json_t *problems_of(const char *type_name, const char *text, bool strict)
{
	_cleanup_json_ json_t *value = parse(text);
	json_t *problems = json_array();
	size_t count = schema_check(lookup(type_name), value, strict, problems);
	assert_int_equal(count, json_array_size(problems));
	return problems;
}

static void assert_problem(const json_t *problems, size_t index, const char *field,
			   const char *message, const char *reason)
{
	const json_t *problem = json_array_get(problems, index);
	if (!problem)
		fail_msg("no problem #%zu in %zu", index, json_array_size(problems));
	assert_string_equal(json_string_value(json_object_get(problem, "field")), field);
	assert_string_equal(json_string_value(json_object_get(problem, "message")), message);
	assert_string_equal(json_string_value(json_object_get(problem, "reason")), reason);
}

/* One problem, from a small object of type `type_name`. */
static void assert_single_problem(const char *type_name, const char *text, const char *field,
				  const char *message)
{
	_cleanup_json_ json_t *problems = problems_of(type_name, text, true);
	assert_int_equal(json_array_size(problems), 1);
	assert_problem(problems, 0, field, message, "FieldValueInvalid");
}

static int load(void **state)
{
	(void)state;
	struct ck_error err = {0};
	int ret = schema_init(&err);
	if (ret < 0)
		fail_msg("schema_init: %s", err.message);
	return 0;
}

static void test_init_is_idempotent(void **state)
{
	(void)state;
	struct ck_error err = {0};
	const struct schema_type *pod = lookup("Pod");
	assert_int_equal(schema_init(&err), 0);
	assert_int_equal(schema_init(NULL), 0);
	assert_ptr_equal(lookup("Pod"), pod);
	assert_int_equal(err.code, 0);
}

static void test_every_kind_present(void **state)
{
	(void)state;
	static const char *const kinds[] = {"Pod",       "Service", "Endpoints", "Node",
					    "Namespace", "Event",   "ConfigMap", "Secret",
					    "Binding",   "Lease"};
	const struct schema_type *meta = lookup("ObjectMeta");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct schema_type *kind = lookup(kinds[i]);
		assert_int_equal(kind->kind, SCHEMA_OBJECT);
		assert_string_equal(kind->name, kinds[i]);
		assert_int_equal(schema_field(kind, "apiVersion")->type->kind, SCHEMA_STRING);
		assert_int_equal(schema_field(kind, "kind")->type->kind, SCHEMA_STRING);
		assert_ptr_equal(schema_field(kind, "metadata")->type, meta);
	}
	const struct schema_type *delete_options = lookup("DeleteOptions");
	assert_non_null(schema_field(delete_options, "kind"));
	assert_ptr_equal(schema_field(delete_options, "preconditions")->type,
			 lookup("Preconditions"));
	assert_non_null(schema_field(lookup("Preconditions"), "resourceVersion"));

	assert_null(schema_lookup("Pods"));
	assert_null(schema_lookup("string"));
	assert_null(schema_lookup(""));
	assert_null(schema_lookup(NULL));
}

static void test_field_types(void **state)
{
	(void)state;
	const struct schema_type *container = lookup("Container");
	const struct schema_field *port = schema_field(lookup("ContainerPort"), "containerPort");
	assert_int_equal(port->type->kind, SCHEMA_INTEGER);
	assert_int_equal(port->type->bits, 32);
	assert_int_equal(schema_field(lookup("PodSpec"), "activeDeadlineSeconds")->type->bits, 64);
	assert_int_equal(schema_field(lookup("ServicePort"), "targetPort")->type->kind,
			 SCHEMA_INT_OR_STRING);
	const struct schema_type *limits =
	    schema_field(lookup("ResourceRequirements"), "limits")->type;
	assert_int_equal(limits->kind, SCHEMA_MAP);
	assert_string_equal(limits->name, "{}quantity");
	assert_int_equal(limits->element->kind, SCHEMA_QUANTITY);
	assert_int_equal(schema_field(lookup("ManagedFieldsEntry"), "fieldsV1")->type->kind,
			 SCHEMA_ANY);
	assert_true(schema_field(lookup("Secret"), "data")->type->element->base64);
	assert_false(schema_field(lookup("Secret"), "stringData")->type->element->base64);
	assert_non_null(schema_field(lookup("DaemonEndpoint"), "Port"));

	/* EphemeralContainer reuses Container's fields and adds its own. */
	const struct schema_type *ephemeral = lookup("EphemeralContainer");
	assert_int_equal(ephemeral->field_count, container->field_count + 1);
	assert_non_null(schema_field(ephemeral, "targetContainerName"));
	assert_null(schema_field(container, "targetContainerName"));

	/* Fields are sorted, and lookups on anything but an object find nothing. */
	for (size_t i = 1; i < container->field_count; i++)
		assert_true(strcmp(container->fields[i - 1].name, container->fields[i].name) < 0);
	assert_null(schema_field(container, "imagee"));
	assert_null(schema_field(container, NULL));
	assert_null(schema_field(limits, "cpu"));
	assert_null(schema_field(NULL, "name"));
}

static void assert_merge_key(const char *type_name, const char *field_name, const char *key)
{
	const struct schema_field *field = schema_field(lookup(type_name), field_name);
	if (!field)
		fail_msg("%s.%s is missing", type_name, field_name);
	assert_int_equal(field->type->kind, SCHEMA_ARRAY);
	assert_int_equal(field->strategy, PATCH_STRATEGY_MERGE);
	assert_string_equal(field->merge_key, key);
	assert_non_null(schema_field(field->type->element, key));
}

static void test_merge_keys(void **state)
{
	(void)state;
	assert_merge_key("PodSpec", "containers", "name");
	assert_merge_key("PodSpec", "initContainers", "name");
	assert_merge_key("Container", "ports", "containerPort");
	assert_merge_key("ServiceSpec", "ports", "port");
	assert_merge_key("Container", "env", "name");
	assert_merge_key("Container", "volumeMounts", "mountPath");
	assert_merge_key("EphemeralContainer", "volumeMounts", "mountPath");
	assert_merge_key("PodStatus", "conditions", "type");
	assert_merge_key("NodeStatus", "conditions", "type");
	assert_merge_key("NodeStatus", "addresses", "type");
	assert_merge_key("ObjectMeta", "ownerReferences", "uid");

	const struct schema_field *volumes = schema_field(lookup("PodSpec"), "volumes");
	assert_int_equal(volumes->strategy, PATCH_STRATEGY_MERGE_RETAIN_KEYS);
	assert_string_equal(volumes->merge_key, "name");

	const struct schema_field *finalizers = schema_field(lookup("ObjectMeta"), "finalizers");
	assert_int_equal(finalizers->strategy, PATCH_STRATEGY_MERGE);
	assert_null(finalizers->merge_key);
	assert_int_equal(finalizers->type->element->kind, SCHEMA_STRING);

	/* Lists without a patch strategy are replaced whole. */
	const struct schema_field *tolerations = schema_field(lookup("PodSpec"), "tolerations");
	assert_int_equal(tolerations->strategy, PATCH_STRATEGY_DEFAULT);
	assert_null(tolerations->merge_key);
	assert_int_equal(schema_field(lookup("NamespaceSpec"), "finalizers")->strategy,
			 PATCH_STRATEGY_DEFAULT);
}

static void assert_passes_unchanged(const char *type_name, const char *text)
{
	_cleanup_json_ json_t *value = parse(text);
	_cleanup_json_ json_t *original = json_deep_copy(value);
	_cleanup_json_ json_t *problems = json_array();
	assert_int_equal(schema_check(lookup(type_name), value, true, problems), 0);
	assert_int_equal(json_array_size(problems), 0);
	assert_int_equal(schema_check(lookup(type_name), value, false, problems), 0);
	assert_true(json_equal(value, original));
}

static void test_realistic_objects_pass_unchanged(void **state)
{
	(void)state;
	assert_passes_unchanged("Pod", realistic_pod);
	assert_passes_unchanged("Service", realistic_service);
	assert_passes_unchanged("Node", realistic_node);
	assert_passes_unchanged(
	    "Endpoints",
	    "{\"kind\": \"Endpoints\", \"subsets\": [{\"addresses\": [{\"ip\": \"10.42.0.7\","
	    " \"nodeName\": \"node-1\", \"targetRef\": {\"kind\": \"Pod\", \"name\": \"web\"}}],"
	    " \"ports\": [{\"name\": \"http\", \"port\": 80, \"protocol\": \"TCP\"}]}]}");
	assert_passes_unchanged(
	    "Event",
	    "{\"involvedObject\": {\"kind\": \"Pod\", \"name\": \"web\", \"fieldPath\":"
	    " \"spec.containers{web}\"}, \"reason\": \"Pulled\", \"message\": \"ok\", \"type\":"
	    " \"Normal\", \"count\": 3, \"source\": {\"component\": \"kubelet\", \"host\": \"n\"},"
	    " \"firstTimestamp\": \"2024-05-01T10:00:00Z\", \"eventTime\":"
	    " \"2024-05-01T10:00:00.123456Z\", \"reportingComponent\": \"kubelet\"}");
	assert_passes_unchanged(
	    "Lease", "{\"spec\": {\"holderIdentity\": \"node-1\", \"leaseDurationSeconds\": 40,"
		     " \"renewTime\": \"2024-05-01T10:00:00.000000Z\"}}");
	assert_passes_unchanged("Secret",
				"{\"type\": \"Opaque\", \"data\": {\"a\": \"aGVsbG8=\","
				" \"b\": \"aGVsbA==\", \"c\": \"\", \"d\": \"aGVs\\nbG8h\"},"
				" \"stringData\": {\"e\": \"plain!\"}}");
	assert_passes_unchanged(
	    "DeleteOptions",
	    "{\"kind\": \"DeleteOptions\", \"gracePeriodSeconds\": 0,"
	    " \"propagationPolicy\": \"Foreground\", \"dryRun\": [\"All\"],"
	    " \"preconditions\": {\"uid\": \"8a7c\", \"resourceVersion\": \"42\"}}");
}

static void test_unknown_fields_reported_when_strict(void **state)
{
	(void)state;
	_cleanup_json_ json_t *problems = problems_of(
	    "Pod",
	    "{\"spec\": {\"containers\": [{\"name\": \"a\"}, {\"name\": \"b\", \"imagee\": \"x\","
	    " \"ports\": [{\"containerPort\": 80}, {\"containerPrt\": 81}]}]},"
	    " \"metadata\": {\"labels\": {\"any-key\": \"fine\"}}, \"extra\": 1}",
	    true);
	assert_int_equal(json_array_size(problems), 3);
	assert_problem(problems, 0, "spec.containers[1].imagee",
		       "unknown field \"spec.containers[1].imagee\"", "FieldValueUnknown");
	assert_problem(problems, 1, "spec.containers[1].ports[1].containerPrt",
		       "unknown field \"spec.containers[1].ports[1].containerPrt\"",
		       "FieldValueUnknown");
	assert_problem(problems, 2, "extra", "unknown field \"extra\"", "FieldValueUnknown");
}

static void test_unknown_fields_pruned_otherwise(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod = parse(
	    "{\"spec\": {\"containers\": [{\"name\": \"b\", \"imagee\": \"x\", \"image\": \"y\"}],"
	    " \"volumes\": [{\"name\": \"v\", \"hostPth\": {}, \"emptyDir\": {\"medum\": \"\"}}]},"
	    " \"extra\": {\"deep\": [1, 2]}}");
	_cleanup_json_ json_t *problems = json_array();
	assert_int_equal(schema_check(lookup("Pod"), pod, false, problems), 4);
	_cleanup_json_ json_t *expected =
	    parse("{\"spec\": {\"containers\": [{\"name\": \"b\", \"image\": \"y\"}],"
		  " \"volumes\": [{\"name\": \"v\", \"emptyDir\": {}}]}}");
	assert_true(json_equal(pod, expected));
	/* What was dropped is still reported, for fieldValidation=Warn. */
	assert_problem(problems, 0, "spec.containers[0].imagee",
		       "unknown field \"spec.containers[0].imagee\"", "FieldValueUnknown");
	assert_problem(problems, 1, "spec.volumes[0].hostPth",
		       "unknown field \"spec.volumes[0].hostPth\"", "FieldValueUnknown");
	assert_problem(problems, 2, "spec.volumes[0].emptyDir.medum",
		       "unknown field \"spec.volumes[0].emptyDir.medum\"", "FieldValueUnknown");
	assert_problem(problems, 3, "extra", "unknown field \"extra\"", "FieldValueUnknown");

	/* Checking again finds nothing left to drop; wrong types stay problems in either mode. */
	assert_int_equal(schema_check(lookup("Pod"), pod, false, NULL), 0);
	_cleanup_json_ json_t *wrong = problems_of("Pod", "{\"spec\": {\"hostPID\": 1}}", false);
	assert_int_equal(json_array_size(wrong), 1);
	assert_problem(wrong, 0, "spec.hostPID",
		       "json: cannot unmarshal number into Go struct field PodSpec.spec.hostPID of "
		       "type bool",
		       "FieldValueInvalid");
}

static void test_wrong_types_at_every_depth(void **state)
{
	(void)state;
	assert_single_problem("Pod", "{\"kind\": 5}", "kind",
			      "json: cannot unmarshal number into Go struct field Pod.kind of type "
			      "string");
	assert_single_problem("Pod", "{\"spec\": []}", "spec",
			      "json: cannot unmarshal array into Go struct field Pod.spec of type "
			      "v1.PodSpec");
	assert_single_problem("Pod", "{\"spec\": {\"hostNetwork\": \"true\"}}", "spec.hostNetwork",
			      "json: cannot unmarshal string into Go struct field "
			      "PodSpec.spec.hostNetwork of type bool");
	assert_single_problem("Pod", "{\"metadata\": {\"labels\": {\"app\": 1}}}",
			      "metadata.labels.app",
			      "json: cannot unmarshal number into Go struct field "
			      "ObjectMeta.metadata.labels of type string");
	assert_single_problem("Pod", "{\"spec\": {\"containers\": {\"name\": \"a\"}}}",
			      "spec.containers",
			      "json: cannot unmarshal object into Go struct field "
			      "PodSpec.spec.containers of type []v1.Container");
	assert_single_problem("Pod", "{\"spec\": {\"containers\": [{\"ports\": [\"80\"]}]}}",
			      "spec.containers[0].ports[0]",
			      "json: cannot unmarshal string into Go struct field "
			      "Container.spec.containers.ports of type v1.ContainerPort");
	assert_single_problem(
	    "Pod", "{\"spec\": {\"containers\": [{}, {\"ports\": [{\"containerPort\": \"80\"}]}]}}",
	    "spec.containers[1].ports[0].containerPort",
	    "json: cannot unmarshal string into Go struct field "
	    "ContainerPort.spec.containers.ports.containerPort of type int32");
	assert_single_problem("Pod",
			      "{\"spec\": {\"containers\": [{\"resources\": {\"limits\":"
			      " {\"cpu\": true}}}]}}",
			      "spec.containers[0].resources.limits.cpu",
			      "json: cannot unmarshal bool into Go struct field "
			      "ResourceRequirements.spec.containers.resources.limits of type "
			      "resource.Quantity");
	assert_single_problem("Pod",
			      "{\"spec\": {\"volumes\": [{\"emptyDir\": {\"sizeLimit\":"
			      " {}}}]}}",
			      "spec.volumes[0].emptyDir.sizeLimit",
			      "json: cannot unmarshal object into Go struct field "
			      "EmptyDirVolumeSource.spec.volumes.emptyDir.sizeLimit of type "
			      "resource.Quantity");
	assert_single_problem("Node",
			      "{\"status\": {\"conditions\": [{\"lastHeartbeatTime\": 7}]}}",
			      "status.conditions[0].lastHeartbeatTime",
			      "json: cannot unmarshal number into Go struct field "
			      "NodeCondition.status.conditions.lastHeartbeatTime of type v1.Time");
	assert_single_problem("Pod", "\"web\"", "",
			      "json: cannot unmarshal string into Go value of type v1.Pod");

	/* Several problems in one object are all reported, in document order. */
	_cleanup_json_ json_t *problems =
	    problems_of("Service",
			"{\"spec\": {\"ports\": [{\"port\": \"80\", \"targetPort\": 8080},"
			" {\"port\": 81, \"targetPort\": [8081]}], \"selector\": [\"app\"]}}",
			true);
	assert_int_equal(json_array_size(problems), 3);
	assert_problem(problems, 0, "spec.ports[0].port",
		       "json: cannot unmarshal string into Go struct field "
		       "ServicePort.spec.ports.port of type int32",
		       "FieldValueInvalid");
	assert_problem(problems, 1, "spec.ports[1].targetPort",
		       "json: cannot unmarshal array into Go struct field "
		       "ServicePort.spec.ports.targetPort of type intstr.IntOrString",
		       "FieldValueInvalid");
	assert_problem(problems, 2, "spec.selector",
		       "json: cannot unmarshal array into Go struct field "
		       "ServiceSpec.spec.selector of type map[string]string",
		       "FieldValueInvalid");
}

static void test_integer_ranges(void **state)
{
	(void)state;
	assert_single_problem("ContainerPort", "{\"containerPort\": 3000000000}", "containerPort",
			      "json: cannot unmarshal number 3000000000 into Go struct field "
			      "ContainerPort.containerPort of type int32");
	assert_single_problem("ContainerPort", "{\"containerPort\": -2147483649}", "containerPort",
			      "json: cannot unmarshal number -2147483649 into Go struct field "
			      "ContainerPort.containerPort of type int32");
	assert_single_problem("ContainerPort", "{\"containerPort\": 80.5}", "containerPort",
			      "json: cannot unmarshal number 80.5 into Go struct field "
			      "ContainerPort.containerPort of type int32");
	assert_single_problem("ServicePort", "{\"targetPort\": 4294967296}", "targetPort",
			      "json: cannot unmarshal number 4294967296 into Go struct field "
			      "ServicePort.targetPort of type intstr.IntOrString");
	_cleanup_json_ json_t *fine = problems_of(
	    "Pod",
	    "{\"spec\": {\"activeDeadlineSeconds\": 9223372036854775807, \"priority\": -2147483648,"
	    " \"containers\": [{\"ports\": [{\"containerPort\": 2147483647}]}]}}",
	    true);
	assert_int_equal(json_array_size(fine), 0);
}

static void test_null_accepted_anywhere(void **state)
{
	(void)state;
	_cleanup_json_ json_t *problems = problems_of(
	    "Pod",
	    "{\"metadata\": null, \"spec\": {\"containers\": [null, {\"name\": null, \"ports\":"
	    " [{\"containerPort\": null}], \"resources\": {\"limits\": {\"cpu\": null}}}],"
	    " \"nodeSelector\": {\"a\": null}}, \"status\": {\"startTime\": null}}",
	    true);
	assert_int_equal(json_array_size(problems), 0);
}

static void test_scalars_that_take_two_forms(void **state)
{
	(void)state;
	_cleanup_json_ json_t *fine = problems_of(
	    "Container",
	    "{\"livenessProbe\": {\"httpGet\": {\"port\": 8080}, \"tcpSocket\": {\"port\":"
	    " \"http\"}}, \"resources\": {\"limits\": {\"cpu\": 1, \"memory\": \"1Gi\"},"
	    " \"requests\": {\"cpu\": 0.5}}}",
	    true);
	assert_int_equal(json_array_size(fine), 0);
	static const char bad_quantity[] = "quantities must match the regular expression "
					   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
	assert_single_problem("ResourceRequirements", "{\"limits\": {\"cpu\": \"lots\"}}",
			      "limits.cpu", bad_quantity);
	assert_single_problem("EmptyDirVolumeSource", "{\"sizeLimit\": \"64 MiB\"}", "sizeLimit",
			      bad_quantity);
	assert_single_problem("HTTPGetAction", "{\"port\": true}", "port",
			      "json: cannot unmarshal bool into Go struct field HTTPGetAction.port "
			      "of type intstr.IntOrString");
	assert_single_problem("ClientIPConfig", "{\"timeoutSeconds\": 1.0}", "timeoutSeconds",
			      "json: cannot unmarshal number 1.0 into Go struct field "
			      "ClientIPConfig.timeoutSeconds of type int32");
}

static void test_any_accepts_everything(void **state)
{
	(void)state;
	_cleanup_json_ json_t *problems = problems_of(
	    "ObjectMeta",
	    "{\"managedFields\": [{\"fieldsV1\": {\"f:x\": [1, \"two\", {\"three\": null}]}},"
	    " {\"fieldsV1\": 5}, {\"fieldsV1\": \"text\"}]}",
	    true);
	assert_int_equal(json_array_size(problems), 0);
}

static void test_base64_follows_go(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *message;
	} cases[] = {
	    {"hunter2", "illegal base64 data at input byte 4"},
	    {"aGVsbG8", "illegal base64 data at input byte 4"},
	    {"a===", "illegal base64 data at input byte 1"},
	    {"aGVsbA==x", "illegal base64 data at input byte 8"},
	    {"aGVsbA=", "illegal base64 data at input byte 7"},
	    {"aGVsbA=x", "illegal base64 data at input byte 6"},
	    {"aGVs bG8=", "illegal base64 data at input byte 4"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_json_ json_t *secret =
		    json_pack("{s:{s:s}}", "data", "key", cases[i].text);
		_cleanup_json_ json_t *problems = json_array();
		assert_int_equal(schema_check(lookup("Secret"), secret, true, problems), 1);
		assert_problem(problems, 0, "data.key", cases[i].message, "FieldValueInvalid");
	}
	assert_single_problem("ConfigMap", "{\"binaryData\": {\"b\": 5}}", "binaryData.b",
			      "json: cannot unmarshal number into Go struct field "
			      "ConfigMap.binaryData of type []uint8");
}

static void test_problems_may_be_counted_only(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod = parse("{\"spec\": {\"hostPID\": 1, \"typo\": 2}}");
	assert_int_equal(schema_check(lookup("Pod"), pod, true, NULL), 2);
	assert_int_equal(schema_check(lookup("Pod"), pod, false, NULL), 2);
	assert_null(json_object_get(json_object_get(pod, "spec"), "typo"));
}

static json_t *nested_arrays(size_t depth)
{
	json_t *value = json_string("bottom");
	for (size_t i = 0; i < depth; i++) {
		json_t *outer = json_array();
		json_array_append_new(outer, value);
		value = outer;
	}
	return value;
}

static void test_hostile_input(void **state)
{
	(void)state;
	/* Deep nesting where a typed list, free-form JSON and an unknown field are expected: the
	 * walk stops at the schema's depth. jansson frees recursively, so stay within its reach. */
	_cleanup_json_ json_t *pod =
	    json_pack("{s:{s:o, s:[{s:o}]}, s:{s:o}}", "spec", "containers", nested_arrays(5000),
		      "ephemeralContainers", "image", nested_arrays(5000), "metadata",
		      "managedFields", nested_arrays(5000));
	assert_non_null(pod);
	_cleanup_json_ json_t *problems = json_array();
	assert_int_equal(schema_check(lookup("Pod"), pod, true, problems), 3);
	assert_problem(problems, 0, "spec.containers[0]",
		       "json: cannot unmarshal array into Go struct field PodSpec.spec.containers "
		       "of type v1.Container",
		       "FieldValueInvalid");
	json_object_set_new(json_object_get(pod, "metadata"), "unknown", nested_arrays(5000));
	assert_int_equal(schema_check(lookup("Pod"), pod, false, NULL), 4);
	assert_null(json_object_get(json_object_get(pod, "metadata"), "unknown"));

	/* Names with quotes, control bytes and NULs are quoted, never taken for a field. */
	_cleanup_json_ json_t *odd = json_object();
	json_object_setn_new(odd, "name\0x", 6, json_string("a"));
	json_object_set_new(odd, "say \"hi\"\n\x01", json_true());
	_cleanup_json_ json_t *odd_problems = json_array();
	assert_int_equal(schema_check(lookup("Container"), odd, true, odd_problems), 2);
	assert_problem(odd_problems, 0, "name", "unknown field \"name\\x00x\"",
		       "FieldValueUnknown");
	assert_int_equal(
	    json_string_length(json_object_get(json_array_get(odd_problems, 0), "field")), 6);
	assert_problem(odd_problems, 1, "say \"hi\"\n\x01",
		       "unknown field \"say \\\"hi\\\"\\n\\x01\"", "FieldValueUnknown");
	assert_int_equal(schema_check(lookup("Container"), odd, false, NULL), 2);
	assert_int_equal(json_object_size(odd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_is_idempotent),
	    cmocka_unit_test(test_every_kind_present),
	    cmocka_unit_test(test_field_types),
	    cmocka_unit_test(test_merge_keys),
	    cmocka_unit_test(test_realistic_objects_pass_unchanged),
	    cmocka_unit_test(test_unknown_fields_reported_when_strict),
	    cmocka_unit_test(test_unknown_fields_pruned_otherwise),
	    cmocka_unit_test(test_wrong_types_at_every_depth),
	    cmocka_unit_test(test_integer_ranges),
	    cmocka_unit_test(test_null_accepted_anywhere),
	    cmocka_unit_test(test_scalars_that_take_two_forms),
	    cmocka_unit_test(test_any_accepts_everything),
	    cmocka_unit_test(test_base64_follows_go),
	    cmocka_unit_test(test_problems_may_be_counted_only),
	    cmocka_unit_test(test_hostile_input),
	};
	return cmocka_run_group_tests(tests, load, NULL);
}
