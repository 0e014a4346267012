/* Kubernetes protobuf request bodies decoded into the JSON the API server handles: bodies that
 * kubectl 1.32 sent, messages built here field by field, and hostile input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver/protobuf.h"
#include "apiserver/schema.h"
#include "lib/buf.h"
#include "lib/cleanup.h"

/* What kubectl 1.32.4 sent to a listener on 127.0.0.1 for
 *   kubectl create namespace demo */
static const uint8_t kubectl_create_namespace[] = {
    0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0x4e, 0x61,
    0x6d, 0x65, 0x73, 0x70, 0x61, 0x63, 0x65, 0x12, 0x1c, 0x0a, 0x14, 0x0a, 0x04, 0x64,
    0x65, 0x6d, 0x6f, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38,
    0x00, 0x42, 0x00, 0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00, 0x1a, 0x00, 0x22, 0x00,
};

/*   kubectl create configmap app-config --from-literal=mode=prod
 *     --from-literal=greeting=héllo --from-file=blob=FILE   (FILE: 00 01 fe ff) */
static const uint8_t kubectl_create_configmap[] = {
    0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0x43, 0x6f, 0x6e,
    0x66, 0x69, 0x67, 0x4d, 0x61, 0x70, 0x12, 0x4c, 0x0a, 0x1a, 0x0a, 0x0a, 0x61, 0x70, 0x70,
    0x2d, 0x63, 0x6f, 0x6e, 0x66, 0x69, 0x67, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00,
    0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x12, 0x0a, 0x08, 0x67, 0x72, 0x65, 0x65, 0x74,
    0x69, 0x6e, 0x67, 0x12, 0x06, 0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f, 0x12, 0x0c, 0x0a, 0x04,
    0x6d, 0x6f, 0x64, 0x65, 0x12, 0x04, 0x70, 0x72, 0x6f, 0x64, 0x1a, 0x0c, 0x0a, 0x04, 0x62,
    0x6c, 0x6f, 0x62, 0x12, 0x04, 0x00, 0x01, 0xfe, 0xff, 0x1a, 0x00, 0x22, 0x00,
};

/*   kubectl create secret generic db-creds --from-literal=user=admin
 *     --from-literal=password='s3cr!t' */
static const uint8_t kubectl_create_secret[] = {
    0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0c, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x06, 0x53, 0x65, 0x63,
    0x72, 0x65, 0x74, 0x12, 0x3f, 0x0a, 0x18, 0x0a, 0x08, 0x64, 0x62, 0x2d, 0x63, 0x72, 0x65,
    0x64, 0x73, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42,
    0x00, 0x12, 0x12, 0x0a, 0x08, 0x70, 0x61, 0x73, 0x73, 0x77, 0x6f, 0x72, 0x64, 0x12, 0x06,
    0x73, 0x33, 0x63, 0x72, 0x21, 0x74, 0x12, 0x0d, 0x0a, 0x04, 0x75, 0x73, 0x65, 0x72, 0x12,
    0x05, 0x61, 0x64, 0x6d, 0x69, 0x6e, 0x1a, 0x00, 0x1a, 0x00, 0x22, 0x00,
};

/*   kubectl create service clusterip web --tcp=80:8080 --tcp=443:https */
static const uint8_t kubectl_create_service[] = {
    0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0d, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x07, 0x53, 0x65, 0x72, 0x76,
    0x69, 0x63, 0x65, 0x12, 0x8d, 0x01, 0x0a, 0x1f, 0x0a, 0x03, 0x77, 0x65, 0x62, 0x12, 0x00, 0x1a,
    0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x5a, 0x0a, 0x0a, 0x03, 0x61,
    0x70, 0x70, 0x12, 0x03, 0x77, 0x65, 0x62, 0x12, 0x66, 0x0a, 0x1b, 0x0a, 0x07, 0x38, 0x30, 0x2d,
    0x38, 0x30, 0x38, 0x30, 0x12, 0x03, 0x54, 0x43, 0x50, 0x18, 0x50, 0x22, 0x07, 0x08, 0x00, 0x10,
    0x90, 0x3f, 0x1a, 0x00, 0x28, 0x00, 0x0a, 0x22, 0x0a, 0x09, 0x34, 0x34, 0x33, 0x2d, 0x68, 0x74,
    0x74, 0x70, 0x73, 0x12, 0x03, 0x54, 0x43, 0x50, 0x18, 0xbb, 0x03, 0x22, 0x0b, 0x08, 0x01, 0x10,
    0x00, 0x1a, 0x05, 0x68, 0x74, 0x74, 0x70, 0x73, 0x28, 0x00, 0x12, 0x0a, 0x0a, 0x03, 0x61, 0x70,
    0x70, 0x12, 0x03, 0x77, 0x65, 0x62, 0x1a, 0x00, 0x22, 0x09, 0x43, 0x6c, 0x75, 0x73, 0x74, 0x65,
    0x72, 0x49, 0x50, 0x3a, 0x00, 0x42, 0x00, 0x52, 0x00, 0x5a, 0x00, 0x60, 0x00, 0x68, 0x00, 0x1a,
    0x02, 0x0a, 0x00, 0x1a, 0x00, 0x22, 0x00,
};

/* --- a small encoder, to build messages field by field ------------------------------------ */

enum { VARINT = 0, FIXED64 = 1, BYTES = 2, GROUP_START = 3, GROUP_END = 4, FIXED32 = 5 };

static void append_varint(struct buf *b, uint64_t value)
{
	for (; value >= 0x80; value >>= 7)
		buf_putc(b, (char)((value & 0x7f) | 0x80));
	buf_putc(b, (char)value);
}

/* Encoded fields are bufs; MSG() joins them into a message and frees them. */
static struct buf join(struct buf *parts, size_t count)
{
	struct buf message = {0};
	for (size_t i = 0; i < count; i++) {
		if (parts[i].len)
			buf_append(&message, parts[i].data, parts[i].len);
		buf_free(&parts[i]);
	}
	return message;
}

#define MSG(...) \
	join((struct buf[]){__VA_ARGS__}, sizeof((struct buf[]){__VA_ARGS__}) / sizeof(struct buf))
#define EMPTY ((struct buf){0})

static struct buf tag(unsigned number, unsigned wire_type)
{
	struct buf b = {0};
	append_varint(&b, (uint64_t)number << 3 | wire_type);
	return b;
}

static struct buf field_varint(unsigned number, uint64_t value)
{
	struct buf b = tag(number, VARINT);
	append_varint(&b, value);
	return b;
}

static struct buf field_bytes(unsigned number, const void *data, size_t len)
{
	struct buf b = tag(number, BYTES);
	append_varint(&b, len);
	if (len)
		buf_append(&b, data, len);
	return b;
}

static struct buf field_string(unsigned number, const char *text)
{
	return field_bytes(number, text, strlen(text));
}

static struct buf field_message(unsigned number, struct buf message)
{
	struct buf b = field_bytes(number, message.data, message.len);
	buf_free(&message);
	return b;
}

/* An entry of a map<string, string>. */
static struct buf field_entry(unsigned number, const char *key, const char *value)
{
	return field_message(number, MSG(field_string(1, key), field_string(2, value)));
}

/* An entry of a map<string, Quantity>. */
static struct buf field_quantity(unsigned number, const char *key, const char *quantity)
{
	return field_message(
	    number, MSG(field_string(1, key), field_message(2, MSG(field_string(1, quantity)))));
}

/* The magic, then runtime.Unknown {typeMeta {apiVersion, kind}, raw}. */
static struct buf envelope(const char *api_version, const char *kind, struct buf raw)
{
	struct buf body = {0};
	buf_append(&body, "k8s\0", 4);
	struct buf unknown =
	    MSG(field_message(1, MSG(field_string(1, api_version), field_string(2, kind))),
		field_message(2, raw));
	buf_append(&body, unknown.data, unknown.len);
	buf_free(&unknown);
	return body;
}

/* --- checks -------------------------------------------------------------------------------- */

/* Expected JSON is written with single quotes, which stand for double quotes. */
static json_t *json_of(const char *text)
{
	_cleanup_free_ char *converted = strdup(text);
	for (char *p = converted; *p; p++)
		if (*p == '\'')
			*p = '"';
	json_error_t error;
	json_t *value = json_loads(converted, 0, &error);
	if (!value)
		fail_msg("expected JSON, column %d: %s", error.column, error.text);
	return value;
}

static void assert_decodes_to(const void *body, size_t len, const char *expected)
{
	json_t *object = NULL;
	struct ck_error err = {0};
	if (protobuf_decode(body, len, &object, &err) < 0)
		fail_msg("decode: %s", err.message);
	_cleanup_json_ json_t *decoded = object;
	_cleanup_json_ json_t *wanted = json_of(expected);
	if (!json_equal(decoded, wanted)) {
		_cleanup_free_ char *got = json_dumps(decoded, JSON_SORT_KEYS | JSON_COMPACT);
		_cleanup_free_ char *want = json_dumps(wanted, JSON_SORT_KEYS | JSON_COMPACT);
		fail_msg("decoded\n  %s\nexpected\n  %s", got, want);
	}
}

static void assert_buf_decodes_to(struct buf body, const char *expected)
{
	assert_decodes_to(body.data, body.len, expected);
	buf_free(&body);
}

static void assert_fails(const void *body, size_t len, const char *message)
{
	json_t *object = json_null();
	struct ck_error err = {0};
	assert_int_equal(protobuf_decode(body, len, &object, &err), -EINVAL);
	assert_null(object);
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.message, message);
}

static void assert_buf_fails(struct buf body, const char *message)
{
	assert_fails(body.data, body.len, message);
	buf_free(&body);
}

/* A Namespace whose metadata is `meta`: the smallest frame to test values in. */
static struct buf namespace_with_meta(struct buf meta)
{
	return envelope("v1", "Namespace", MSG(field_message(1, meta)));
}

static int load(void **state)
{
	(void)state;
	struct ck_error err = {0};
	if (schema_init(&err) < 0)
		fail_msg("schema_init: %s", err.message);
	return 0;
}

/* --- what kubectl sends -------------------------------------------------------------------- */

/* Go sends every plain field, empty ones too; they come out as JSON leaves them: absent. */
static void test_kubectl_create_namespace(void **state)
{
	(void)state;
	assert_decodes_to(kubectl_create_namespace, sizeof(kubectl_create_namespace),
			  "{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'demo'},"
			  " 'spec': {}, 'status': {}}");
}

static void test_kubectl_create_configmap(void **state)
{
	(void)state;
	assert_decodes_to(kubectl_create_configmap, sizeof(kubectl_create_configmap),
			  "{'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': "
			  "'app-config'}, 'data': {'greeting': 'h\xc3\xa9llo', 'mode': 'prod'},"
			  " 'binaryData': {'blob': 'AAH+/w=='}}");
}

static void test_kubectl_create_secret(void **state)
{
	(void)state;
	assert_decodes_to(kubectl_create_secret, sizeof(kubectl_create_secret),
			  "{'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'db-creds'},"
			  " 'data': {'password': 'czNjciF0', 'user': 'YWRtaW4='}}");
}

static void test_kubectl_create_service(void **state)
{
	(void)state;
	assert_decodes_to(
	    kubectl_create_service, sizeof(kubectl_create_service),
	    "{'apiVersion': 'v1', 'kind': 'Service',"
	    " 'metadata': {'name': 'web', 'labels': {'app': 'web'}},"
	    " 'spec': {'ports': [{'name': '80-8080', 'protocol': 'TCP', 'port': 80, 'targetPort': "
	    "8080},"
	    "  {'name': '443-https', 'protocol': 'TCP', 'port': 443, 'targetPort': 'https'}],"
	    "  'selector': {'app': 'web'}, 'type': 'ClusterIP'},"
	    " 'status': {'loadBalancer': {}}}");
}

/* --- messages built here ------------------------------------------------------------------- */

/* intstr.IntOrString as Go sends it: type 0 and intVal, or type 1 and strVal. */
static struct buf field_int_or_string(unsigned number, int32_t value, const char *text)
{
	return field_message(number, MSG(field_varint(1, text ? 1 : 0),
					 field_varint(2, (uint64_t)(int64_t)value),
					 field_string(3, text ? text : "")));
}

static struct buf web_container(void)
{
	/* A secretKeyRef's name sits in its embedded LocalObjectReference (field 1). */
	struct buf secret_key_ref =
	    MSG(field_message(1, MSG(field_string(1, "creds"))), field_string(2, "password"));
	/* A probe's action sits in its embedded handler (field 1): httpGet 1.2, tcpSocket 1.3. */
	struct buf http_get = MSG(field_string(1, "/healthz"), field_int_or_string(2, 0, "http"));
	struct buf liveness =
	    MSG(field_message(1, MSG(field_message(2, http_get))), field_varint(4, 10));
	struct buf tcp_socket = MSG(field_int_or_string(1, 8080, NULL));
	struct buf readiness = MSG(field_message(1, MSG(field_message(3, tcp_socket))));
	return MSG(field_string(1, "web"), field_string(2, "nginx:1.25"), /* name, image */
		   field_string(4, "-g"), field_string(4, "daemon off;"), /* args */
		   /* ports: name, hostPort (a plain zero), containerPort, protocol */
		   field_message(6, MSG(field_string(1, "http"), field_varint(2, 0),
					field_varint(3, 80), field_string(4, "TCP"))),
		   /* env: a value, an empty value (left out), a secretKeyRef in valueFrom */
		   field_message(7, MSG(field_string(1, "MODE"), field_string(2, "prod"))),
		   field_message(7, MSG(field_string(1, "EMPTY"), field_string(2, ""))),
		   field_message(7, MSG(field_string(1, "PASSWORD"),
					field_message(3, MSG(field_message(4, secret_key_ref))))),
		   /* resources: limits (1) and requests (2), maps of quantities */
		   field_message(8, MSG(field_quantity(1, "cpu", "500m"),
					field_quantity(1, "memory", "128Mi"),
					field_quantity(2, "cpu", "250m"))),
		   field_message(10, liveness), field_message(11, readiness),
		   /* securityContext: runAsUser 0 and allowPrivilegeEscalation false, pointers */
		   field_message(15, MSG(field_varint(4, 0), field_varint(7, 0))),
		   field_varint(16, 0)); /* stdin: a plain false */
}

static struct buf web_pod(void)
{
	struct buf meta =
	    MSG(field_string(1, "web"), field_string(2, ""), field_string(3, "default"),
		field_varint(7, 0), field_message(8, EMPTY), /* creationTimestamp */
		field_entry(11, "app", "web"), field_entry(11, "empty", ""));
	/* A volume's source sits in its embedded VolumeSource (field 2): emptyDir is 2.2. */
	struct buf empty_dir =
	    MSG(field_string(1, "Memory"), field_message(2, MSG(field_string(1, "64Mi"))));
	struct buf volume =
	    MSG(field_string(1, "cache"), field_message(2, MSG(field_message(2, empty_dir))));
	struct buf spec =
	    MSG(field_message(1, volume), field_message(2, web_container()),
		field_string(3, "Always"), /* restartPolicy */
		field_varint(4, 0),        /* terminationGracePeriodSeconds: a pointer, 0 kept */
		field_entry(7, "disk", "ssd"), /* nodeSelector */
		field_varint(11, 0),           /* hostNetwork: a plain false */
		field_varint(21, 0),           /* automountServiceAccountToken: a pointer */
		/* tolerations, tolerationSeconds an *int64: 300, 0 (kept), and none */
		field_message(22, MSG(field_string(1, "node.kubernetes.io/not-ready"),
				      field_string(2, "Exists"), field_string(4, "NoExecute"),
				      field_varint(5, 300))),
		field_message(22, MSG(field_string(1, "dedicated"), field_string(2, "Equal"),
				      field_string(3, "web"), field_string(4, "NoExecute"),
				      field_varint(5, 0))),
		field_message(22, MSG(field_string(1, "forever"), field_string(2, "Exists"))),
		field_varint(25, (uint64_t)-5), /* priority, an *int32: ten bytes on the wire */
		/* ephemeralContainers: the fields shared with Container are embedded in field 1 */
		field_message(
		    34, MSG(field_message(1, MSG(field_string(1, "debug"),
						 field_string(2, "busybox"), field_varint(18, 1))),
			    field_string(2, "web"))));
	return envelope("v1", "Pod",
			MSG(field_message(1, meta), field_message(2, spec),
			    field_message(3, MSG(field_string(1, "")))));
}

static const char web_pod_json[] =
    "{'apiVersion': 'v1', 'kind': 'Pod',"
    " 'metadata': {'name': 'web', 'namespace': 'default', 'labels': {'app': 'web', 'empty': ''}},"
    " 'spec': {"
    "  'volumes': [{'name': 'cache', 'emptyDir': {'medium': 'Memory', 'sizeLimit': '64Mi'}}],"
    "  'containers': [{'name': 'web', 'image': 'nginx:1.25', 'args': ['-g', 'daemon off;'],"
    "   'ports': [{'name': 'http', 'containerPort': 80, 'protocol': 'TCP'}],"
    "   'env': [{'name': 'MODE', 'value': 'prod'}, {'name': 'EMPTY'},"
    "    {'name': 'PASSWORD', 'valueFrom': {'secretKeyRef': {'name': 'creds', 'key': "
    "'password'}}}],"
    "   'resources': {'limits': {'cpu': '500m', 'memory': '128Mi'}, 'requests': {'cpu': "
    "'250m'}},"
    "   'livenessProbe': {'httpGet': {'path': '/healthz', 'port': 'http'}, 'periodSeconds': 10},"
    "   'readinessProbe': {'tcpSocket': {'port': 8080}},"
    "   'securityContext': {'runAsUser': 0, 'allowPrivilegeEscalation': false}}],"
    "  'restartPolicy': 'Always', 'terminationGracePeriodSeconds': 0,"
    "  'nodeSelector': {'disk': 'ssd'}, 'automountServiceAccountToken': false,"
    "  'tolerations': ["
    "   {'key': 'node.kubernetes.io/not-ready', 'operator': 'Exists', 'effect': 'NoExecute',"
    "    'tolerationSeconds': 300},"
    "   {'key': 'dedicated', 'operator': 'Equal', 'value': 'web', 'effect': 'NoExecute',"
    "    'tolerationSeconds': 0},"
    "   {'key': 'forever', 'operator': 'Exists'}],"
    "  'priority': -5,"
    "  'ephemeralContainers': [{'name': 'debug', 'image': 'busybox', 'tty': true,"
    "   'targetContainerName': 'web'}]},"
    " 'status': {}}";

static void test_pod_built_field_by_field(void **state)
{
	(void)state;
	assert_buf_decodes_to(web_pod(), web_pod_json);
}

static void test_lists_packed_or_not(void **state)
{
	(void)state;
	/* PodSecurityContext.supplementalGroups, a []int64: one value per field, then packed. */
	struct buf packed = {0};
	append_varint(&packed, 3000);
	append_varint(&packed, (uint64_t)-1);
	append_varint(&packed, 0);
	struct buf pod = envelope(
	    "v1", "Pod",
	    MSG(field_message(2, MSG(field_message(14, MSG(field_varint(4, 1), field_varint(4, 2),
							   field_bytes(4, packed.data, packed.len),
							   field_bytes(4, "", 0)))))));
	buf_free(&packed);
	assert_buf_decodes_to(pod, "{'apiVersion': 'v1', 'kind': 'Pod', 'spec': {'securityContext':"
				   " {'supplementalGroups': [1, 2, 3000, -1, 0]}}}");
}

static void test_integers_as_go_reads_them(void **state)
{
	(void)state;
	/* int32 keeps the low 32 bits of a larger varint, as Go does; int64 all 64. */
	assert_buf_decodes_to(
	    envelope("v1", "Pod",
		     MSG(field_message(1, MSG(field_varint(7, (uint64_t)INT64_MIN))),
			 field_message(2, MSG(field_varint(25, 0x100000007ULL),
					      field_varint(5, (uint64_t)INT64_MAX))))),
	    "{'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'generation': -9223372036854775808},"
	    " 'spec': {'priority': 7, 'activeDeadlineSeconds': 9223372036854775807}}");
	/* Any nonzero varint is true. */
	assert_buf_decodes_to(envelope("v1", "ConfigMap", MSG(field_varint(4, 2))),
			      "{'apiVersion': 'v1', 'kind': 'ConfigMap', 'immutable': true}");
}

static void test_times(void **state)
{
	(void)state;
	/* metav1.Time drops nanoseconds; epoch zero is a time, an empty message is none, and so is
	 * Go's zero time (year 1). */
	assert_buf_decodes_to(
	    namespace_with_meta(
		MSG(field_message(8, MSG(field_varint(1, 1714557600), field_varint(2, 999999999))),
		    field_message(9, MSG(field_varint(1, 0), field_varint(2, 0))))),
	    "{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {"
	    "'creationTimestamp': '2024-05-01T10:00:00Z',"
	    " 'deletionTimestamp': '1970-01-01T00:00:00Z'}}");
	assert_buf_decodes_to(namespace_with_meta(MSG(
				  field_message(8, EMPTY),
				  field_message(9, MSG(field_varint(1, (uint64_t)-62135596800))))),
			      "{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {}}");
	/* A later empty time unsets an earlier one, as for any field sent twice. */
	assert_buf_decodes_to(namespace_with_meta(MSG(field_message(8, MSG(field_varint(1, 1))),
						      field_message(8, EMPTY))),
			      "{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {}}");

	/* metav1.MicroTime keeps microseconds, truncated toward zero; nanos outside [0, 1s) move
	 * into the seconds as time.Unix() moves them. */
	assert_buf_decodes_to(
	    envelope(
		"v1", "Event",
		MSG(field_message(10, MSG(field_varint(1, 1714557600), field_varint(2, 123456789))),
		    field_message(11,
				  MSG(field_varint(1, 2),
				      field_message(2, MSG(field_varint(1, 1714557600),
							   field_varint(2, (uint64_t)-1500))))))),
	    "{'apiVersion': 'v1', 'kind': 'Event', 'eventTime': '2024-05-01T10:00:00.123456Z',"
	    " 'series': {'count': 2, 'lastObservedTime': '2024-05-01T09:59:59.999999Z'}}");
	assert_buf_decodes_to(
	    envelope(
		"coordination.k8s.io/v1", "Lease",
		MSG(field_message(2, MSG(field_string(1, "node-1"), field_varint(2, 40),
					 field_message(4, MSG(field_varint(1, 1714557600),
							      field_varint(2, 1500000000))))))),
	    "{'apiVersion': 'coordination.k8s.io/v1', 'kind': 'Lease', 'spec': {"
	    "'holderIdentity': 'node-1', 'leaseDurationSeconds': 40,"
	    " 'renewTime': '2024-05-01T10:00:01.500000Z'}}");

	/* RFC 3339 has four-digit years. */
	assert_buf_decodes_to(
	    namespace_with_meta(MSG(field_message(8, MSG(field_varint(1, 253402300799))))),
	    "{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {"
	    "'creationTimestamp': '9999-12-31T23:59:59Z'}}");
	assert_buf_fails(
	    namespace_with_meta(MSG(field_message(8, MSG(field_varint(1, 253402300800))))),
	    "protobuf Namespace: metadata.creationTimestamp: time 253402300800 s is outside the "
	    "years 0 to 9999");
	assert_buf_fails(
	    namespace_with_meta(MSG(field_message(8, MSG(field_varint(1, (uint64_t)INT64_MIN))))),
	    "protobuf Namespace: metadata.creationTimestamp: time -9223372036854775808 s is "
	    "outside the years 0 to 9999");
}

static void test_special_messages(void **state)
{
	(void)state;
	/* A Quantity without its string is Go's zero Quantity; its text is kept as sent, for
	 * schema_check() to judge. */
	assert_buf_decodes_to(
	    envelope("v1", "Node",
		     MSG(field_message(3, MSG(field_quantity(1, "cpu", "4"),
					      field_quantity(1, "bad", "x"),
					      field_message(1, MSG(field_string(1, "pods"))),
					      field_message(2, MSG(field_string(1, "memory"),
								   field_message(2, EMPTY))))))),
	    "{'apiVersion': 'v1', 'kind': 'Node', 'status': {"
	    "'capacity': {'cpu': '4', 'bad': 'x', 'pods': '0'}, 'allocatable': {'memory': '0'}}}");
	/* FieldsV1 carries JSON. */
	assert_buf_decodes_to(
	    namespace_with_meta(MSG(field_message(
		17, MSG(field_string(1, "kubectl"),
			field_message(
			    7, MSG(field_string(1, "{\"f:metadata\":{\"f:labels\":{}}}"))))))),
	    "{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'managedFields': [{"
	    "'manager': 'kubectl', 'fieldsV1': {'f:metadata': {'f:labels': {}}}}]}}");
	/* A map entry may lack its key or its value. */
	assert_buf_decodes_to(
	    envelope("v1", "Secret",
		     MSG(field_message(2, MSG(field_string(1, "only-key"))),
			 field_message(2, MSG(field_bytes(2, "\xff", 1))),
			 field_message(4, MSG(field_string(1, "k"))), field_string(3, "Opaque"))),
	    "{'apiVersion': 'v1', 'kind': 'Secret', 'data': {'only-key': '', '': '/w=='},"
	    " 'stringData': {'k': ''}, 'type': 'Opaque'}");
}

/* A field sent again: lists grow, maps gain keys, messages merge and scalars take the last
 * value, a zero one unsetting it, as in Go's decoder. */
static void test_fields_sent_twice(void **state)
{
	(void)state;
	assert_buf_decodes_to(
	    namespace_with_meta(
		MSG(field_string(1, "first"), field_string(1, "second"), field_string(2, "gen-"),
		    field_string(2, ""), field_entry(11, "a", "1"), field_entry(11, "b", "2"),
		    field_entry(11, "a", "3"), field_string(14, "x"), field_string(14, "y"))),
	    "{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'second',"
	    " 'labels': {'a': '3', 'b': '2'}, 'finalizers': ['x', 'y']}}");
	assert_buf_decodes_to(envelope("v1", "Namespace",
				       MSG(field_message(1, MSG(field_string(1, "n"))),
					   field_message(3, MSG(field_string(1, "Active"))),
					   field_message(1, MSG(field_string(3, "ns"))))),
			      "{'apiVersion': 'v1', 'kind': 'Namespace',"
			      " 'metadata': {'name': 'n', 'namespace': 'ns'},"
			      " 'status': {'phase': 'Active'}}");
}

/* Appends fields of unknown numbers, of every wire type, a nested group among them. */
static struct buf with_unknown_fields(struct buf message)
{
	struct buf fields = MSG(field_varint(1000, 1), tag(1001, FIXED64));
	buf_append(&fields, "12345678", 8);
	struct buf more = MSG(field_string(1002, "x"), tag(1003, FIXED32));
	buf_append(&more, "1234", 4);
	struct buf group = MSG(tag(900, GROUP_START), field_varint(1, 5), tag(2, GROUP_START),
			       tag(2, GROUP_END), tag(900, GROUP_END));
	return MSG(message, fields, more, group);
}

static void test_unknown_fields_skipped(void **state)
{
	(void)state;
	struct buf time = with_unknown_fields(MSG(field_varint(1, 1714557600)));
	struct buf meta =
	    with_unknown_fields(MSG(field_string(1, "demo"), field_string(536870911, "last number"),
				    field_message(8, time)));
	struct buf raw = with_unknown_fields(MSG(field_message(1, meta), field_message(2, EMPTY)));
	struct buf type_meta =
	    with_unknown_fields(MSG(field_string(1, "v1"), field_string(2, "Namespace")));
	struct buf unknown =
	    with_unknown_fields(MSG(field_message(1, type_meta), field_message(2, raw)));
	struct buf body = {0};
	buf_append(&body, "k8s\0", 4);
	buf_append(&body, unknown.data, unknown.len);
	buf_free(&unknown);
	assert_buf_decodes_to(body,
			      "{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata':"
			      " {'name': 'demo', 'creationTimestamp': '2024-05-01T10:00:00Z'},"
			      " 'spec': {}}");
}

static void test_envelope(void **state)
{
	(void)state;
	/* No raw message at all is an empty object. */
	struct buf bare = {0};
	buf_append(&bare, "k8s\0", 4);
	struct buf type_meta =
	    MSG(field_message(1, MSG(field_string(1, "v1"), field_string(2, "Binding"))),
		field_string(3, ""), field_string(4, "application/vnd.kubernetes.protobuf"));
	buf_append(&bare, type_meta.data, type_meta.len);
	buf_free(&type_meta);
	assert_buf_decodes_to(bare, "{'apiVersion': 'v1', 'kind': 'Binding'}");

	assert_fails("", 0,
		     "protobuf: the body does not start with \"k8s\\0\", the Kubernetes "
		     "envelope");
	assert_fails("k8s", 3,
		     "protobuf: the body does not start with \"k8s\\0\", the Kubernetes "
		     "envelope");
	assert_fails("{\"kind\": \"Pod\"}", 15,
		     "protobuf: the body does not start with \"k8s\\0\", the Kubernetes envelope");
	assert_fails("k8s\0", 4, "protobuf envelope: no kind");
	assert_buf_fails(envelope("", "Pod", EMPTY), "protobuf envelope: no apiVersion");
	assert_buf_fails(envelope("apps/v1", "Deployment", EMPTY),
			 "protobuf: kind Deployment is not known");
	assert_buf_fails(envelope("v1", "ObjectMeta", EMPTY),
			 "protobuf: kind ObjectMeta is not known");
	assert_buf_fails(envelope("v1", "Pod\xff\x01", EMPTY),
			 "protobuf envelope: kind Pod??: a string is not valid UTF-8");

	struct buf gzip = envelope("v1", "Pod", EMPTY);
	struct buf encoding = field_string(3, "gzip");
	buf_append(&gzip, encoding.data, encoding.len);
	buf_free(&encoding);
	assert_buf_fails(gzip, "protobuf envelope: the object is encoded as \"gzip\", not as plain "
			       "protobuf");
	struct buf json = envelope("v1", "Pod", EMPTY);
	struct buf content_type = field_string(4, "application/json");
	buf_append(&json, content_type.data, content_type.len);
	buf_free(&content_type);
	assert_buf_fails(json, "protobuf envelope: the object is encoded as \"application/json\", "
			       "not as plain protobuf");

	/* The caller may not want the message. */
	json_t *object = NULL;
	assert_int_equal(protobuf_decode("k8s\0\x0a", 5, &object, NULL), -EINVAL);
	assert_null(object);
}

static void test_malformed_values(void **state)
{
	(void)state;
	assert_buf_fails(envelope("v1", "Namespace", MSG(field_varint(1, 1))),
			 "protobuf Namespace: metadata: field 1 has wire type 0, expected 2");
	assert_buf_fails(namespace_with_meta(MSG(field_varint(1, 1))),
			 "protobuf Namespace: metadata.name: field 1 has wire type 0, expected 2");
	assert_buf_fails(namespace_with_meta(MSG(field_string(7, "1"))),
			 "protobuf Namespace: metadata.generation: field 7 has wire type 2, "
			 "expected 0");
	assert_buf_fails(
	    namespace_with_meta(MSG(field_varint(11, 1))),
	    "protobuf Namespace: metadata.labels: field 11 has wire type 0, expected 2");
	assert_buf_fails(
	    namespace_with_meta(MSG(field_message(11, MSG(field_varint(1, 1))))),
	    "protobuf Namespace: metadata.labels: field 1 has wire type 0, expected 2");
	assert_buf_fails(namespace_with_meta(MSG(field_bytes(1, "a\xc3", 2))),
			 "protobuf Namespace: metadata.name: a string is not valid UTF-8");
	assert_buf_fails(namespace_with_meta(MSG(field_bytes(1, "a\0b", 3))),
			 "protobuf Namespace: metadata.name: a string holds a NUL byte");
	assert_buf_fails(
	    namespace_with_meta(MSG(field_message(11, MSG(field_bytes(1, "\xc0\xaf", 2))))),
	    "protobuf Namespace: metadata.labels: a string is not valid UTF-8");
	/* A bad value names its map key and list index. */
	assert_buf_fails(namespace_with_meta(MSG(field_message(
			     11, MSG(field_string(1, "k\xc3\xa9y"), field_bytes(2, "\xff", 1))))),
			 "protobuf Namespace: metadata.labels.kéy: a string is not valid UTF-8");
	assert_buf_fails(
	    namespace_with_meta(MSG(field_string(14, "ok"), field_bytes(14, "\xff", 1))),
	    "protobuf Namespace: metadata.finalizers[1]: a string is not valid UTF-8");
	assert_buf_fails(
	    namespace_with_meta(MSG(field_message(
		17, MSG(field_message(7, MSG(field_string(1, "{\"f:spec\": \xff}"))))))),
	    "protobuf Namespace: metadata.managedFields[0].fieldsV1: the embedded JSON is "
	    "invalid: unable to decode byte 0xff");
	assert_buf_fails(
	    envelope(
		"v1", "Service",
		MSG(field_message(
		    2, MSG(field_message(1, MSG(field_message(4, MSG(field_varint(1, 2))))))))),
	    "protobuf Service: spec.ports[0].targetPort: IntOrString type 2 is neither 0 (int) nor "
	    "1 (string)");
	/* A packed list holds whole varints. */
	assert_buf_fails(
	    envelope(
		"v1", "Pod",
		MSG(field_message(2, MSG(field_message(14, MSG(field_bytes(4, "\x01\x80", 2))))))),
	    "protobuf Pod: spec.securityContext.supplementalGroups[1]: truncated varint");
	/* Go's decoder accepts no group where a message belongs. */
	assert_buf_fails(envelope("v1", "Pod", MSG(tag(2, GROUP_START), tag(2, GROUP_END))),
			 "protobuf Pod: spec: field 2 has wire type 3, expected 2");
}

static void test_malformed_wire(void **state)
{
	(void)state;
	static const struct {
		const char *bytes;
		size_t len;
		const char *message;
	} cases[] = {
	    {"\x0a", 1, "truncated varint"},
	    {"\x0a\x05\x0a\x01", 4, "field 1: 5 bytes announced, 2 left"},
	    {"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11,
	     "field 1: 18446744073709551615 bytes announced, 0 left"},
	    {"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12, "varint longer than 10 bytes"},
	    {"\x00", 1, "field number 0 is out of range"},
	    {"\x80\x80\x80\x80\x10", 5, "field number 536870912 is out of range"},
	    {"\x0e", 1, "field 1 has the unknown wire type 6"},
	    {"\x0f", 1, "field 1 has the unknown wire type 7"},
	    {"\x0c", 1, "group 1 ends without starting"},
	    {"\x0b\x08\x01", 3, "group 1 is not ended"},
	    {"\x0b\x14", 2, "group 1 ended as group 2"},
	    {"\x09\x01\x02", 3, "field 1: 8 bytes announced, 2 left"},
	    {"\x0d\x01", 2, "field 1: 4 bytes announced, 1 left"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Once in the envelope, once in an object's message. */
		struct buf in_envelope = {0};
		buf_append(&in_envelope, "k8s\0", 4);
		buf_append(&in_envelope, cases[i].bytes, cases[i].len);
		_cleanup_free_ char *envelope_message = NULL;
		assert_true(asprintf(&envelope_message, "protobuf envelope: %s", cases[i].message) >
			    0);
		assert_buf_fails(in_envelope, envelope_message);

		struct buf in_spec =
		    envelope("v1", "Pod", field_bytes(2, cases[i].bytes, cases[i].len));
		_cleanup_free_ char *spec_message = NULL;
		assert_true(asprintf(&spec_message, "protobuf Pod: spec: %s", cases[i].message) >
			    0);
		assert_buf_fails(in_spec, spec_message);
	}
}

/* Nothing in the schema nests deep, but groups may, and are skipped with a bound. */
static void test_depth_is_bounded(void **state)
{
	(void)state;
	struct buf nested = {0};
	for (int i = 0; i < 1000; i++)
		append_varint(&nested, 5 << 3 | GROUP_START);
	assert_buf_fails(envelope("v1", "Pod", nested),
			 "protobuf Pod: nested deeper than 64 levels");
	struct buf shallow = MSG(tag(5, GROUP_START), tag(5, GROUP_START), tag(5, GROUP_END),
				 tag(5, GROUP_END), field_message(1, MSG(field_string(1, "p"))));
	assert_buf_decodes_to(envelope("v1", "Pod", shallow),
			      "{'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'p'}}");
}

/* Every cut and many changed bytes fail cleanly or decode; none crashes or reads past the end
 * (valgrind and ASan watch this). */
static void assert_survives_damage(const uint8_t *body, size_t len)
{
	_cleanup_free_ uint8_t *copy = malloc(len);
	for (size_t cut = 0; cut <= len; cut++) {
		json_t *object = NULL;
		struct ck_error err = {0};
		memcpy(copy, body, cut);
		int ret = protobuf_decode(copy, cut, &object, &err);
		assert_true(ret == 0 || (ret == -EINVAL && !object && err.message[0]));
		json_decref(object);
	}
	static const uint8_t flips[] = {0x01, 0x07, 0x80, 0xff};
	for (size_t at = 4; at < len; at++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			json_t *object = NULL;
			memcpy(copy, body, len);
			copy[at] ^= flips[f];
			int ret = protobuf_decode(copy, len, &object, NULL);
			assert_true(ret == 0 || (ret == -EINVAL && !object));
			json_decref(object);
		}
	}
}

static void test_damaged_bodies(void **state)
{
	(void)state;
	assert_survives_damage(kubectl_create_namespace, sizeof(kubectl_create_namespace));
	assert_survives_damage(kubectl_create_configmap, sizeof(kubectl_create_configmap));
	assert_survives_damage(kubectl_create_secret, sizeof(kubectl_create_secret));
	assert_survives_damage(kubectl_create_service, sizeof(kubectl_create_service));
	_cleanup_buf_ struct buf pod = web_pod();
	assert_survives_damage((const uint8_t *)pod.data, pod.len);
}

/* --- the numbers in the schema ------------------------------------------------------------- */

static void assert_numbered(const struct schema_type *type, unsigned depth)
{
	if (depth > 40)
		fail_msg("%s: the schema nests deeper than expected", type->name);
	if (type->kind == SCHEMA_ARRAY || type->kind == SCHEMA_MAP) {
		assert_numbered(type->element, depth + 1);
		return;
	}
	for (size_t i = 0; i < type->field_count; i++) {
		const struct schema_field *field = &type->fields[i];
		bool envelope_field = depth == 0 && (!strcmp(field->name, "apiVersion") ||
						     !strcmp(field->name, "kind"));
		if (envelope_field != (field->pb_number == 0))
			fail_msg("%s.%s: pb=%u", type->name, field->name, field->pb_number);
		assert_numbered(field->type, depth + 1);
	}
}

static void assert_pb(const char *type_name, const char *field_name, unsigned embedded,
		      unsigned number, bool pointer)
{
	const struct schema_field *field = schema_field(schema_lookup(type_name), field_name);
	if (!field)
		fail_msg("%s.%s is missing", type_name, field_name);
	assert_int_equal(field->pb_embedded, embedded);
	assert_int_equal(field->pb_number, number);
	assert_int_equal(field->pointer, pointer);
}

static void test_schema_numbers(void **state)
{
	(void)state;
	static const char *const kinds[] = {"Pod",       "Service", "Endpoints",    "Node",
					    "Namespace", "Event",   "ConfigMap",    "Secret",
					    "Binding",   "Lease",   "DeleteOptions"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		assert_numbered(schema_lookup(kinds[i]), 0);

	assert_pb("ObjectMeta", "managedFields", 0, 17, false);
	assert_pb("ObjectMeta", "deletionGracePeriodSeconds", 0, 10, true);
	assert_pb("OwnerReference", "apiVersion", 0, 5, false);
	assert_pb("Toleration", "tolerationSeconds", 0, 5, true);
	assert_pb("Toleration", "key", 0, 1, false);
	assert_pb("Probe", "grpc", 1, 4, false);
	assert_pb("Volume", "image", 2, 30, false);
	assert_pb("SecretKeySelector", "name", 1, 1, false);
	assert_pb("DeleteOptions", "gracePeriodSeconds", 0, 1, true);
	assert_pb("DaemonEndpoint", "Port", 0, 1, false);
	assert_string_equal(schema_field(schema_lookup("LeaseSpec"), "renewTime")->type->name,
			    "microtime");

	/* An EphemeralContainer is a Container embedded in field 1, plus its target. */
	const struct schema_type *container = schema_lookup("Container");
	const struct schema_type *ephemeral = schema_lookup("EphemeralContainer");
	for (size_t i = 0; i < container->field_count; i++) {
		const struct schema_field *own = &container->fields[i];
		const struct schema_field *shared = schema_field(ephemeral, own->name);
		assert_non_null(shared);
		assert_int_equal(shared->pb_embedded, 1);
		assert_int_equal(shared->pb_number, own->pb_number);
		assert_int_equal(shared->pointer, own->pointer);
		assert_ptr_equal(shared->type->element, own->type->element);
	}
	assert_pb("EphemeralContainer", "targetContainerName", 0, 2, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kubectl_create_namespace),
	    cmocka_unit_test(test_kubectl_create_configmap),
	    cmocka_unit_test(test_kubectl_create_secret),
	    cmocka_unit_test(test_kubectl_create_service),
	    cmocka_unit_test(test_pod_built_field_by_field),
	    cmocka_unit_test(test_lists_packed_or_not),
	    cmocka_unit_test(test_integers_as_go_reads_them),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_special_messages),
	    cmocka_unit_test(test_fields_sent_twice),
	    cmocka_unit_test(test_unknown_fields_skipped),
	    cmocka_unit_test(test_envelope),
	    cmocka_unit_test(test_malformed_values),
	    cmocka_unit_test(test_malformed_wire),
	    cmocka_unit_test(test_depth_is_bounded),
	    cmocka_unit_test(test_damaged_bodies),
	    cmocka_unit_test(test_schema_numbers),
	};
	return cmocka_run_group_tests(tests, load, NULL);
}
