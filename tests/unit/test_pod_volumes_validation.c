/* A pod's volumes and volumeMounts through the pod strategy (defaults, then validation) with the
 * field paths and messages kube-apiserver gives (pkg/apis/core/validation), in its order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver/kinds.h"
#include "apiserver/resources.h"
#include "apiserver/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

#define MODE_MSG "must be a number between 0 and 0777 (octal), both inclusive"
#define HOST_PATH_TYPES                                                            \
	"supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", " \
	"\"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\""
#define TWO_TYPES "Forbidden: may not specify more than 1 volume type"

/* A pod named "web" from its spec written with ' for " (no value here needs a quote). */
static json_t *pod_with_spec(const char *spec)
{
	_cleanup_free_ char *text = NULL;
	assert_true(asprintf(&text, "{'metadata':{'name':'web','namespace':'default'},'spec':%s}",
			     spec) > 0);
	for (char *c = text; *c; c++)
		if (*c == '\'')
			*c = '"';
	json_error_t error;
	json_t *pod = json_loads(text, 0, &error);
	if (!pod)
		fail_msg("bad test JSON: %s: %s", error.text, text);
	return pod;
}

/* The causes as Kubernetes joins them after "is invalid: ", "field: message, ...". */
static char *causes_of(const struct field_errors *errors)
{
	_cleanup_buf_ struct buf out = {0};
	size_t i;
	json_t *cause;
	json_array_foreach (errors->causes, i, cause)
		buf_printf(&out, "%s%s: %s", i ? ", " : "",
			   json_string_value(json_object_get(cause, "field")),
			   json_string_value(json_object_get(cause, "message")));
	return buf_steal(&out);
}

/* Defaults then validation of a pod with `spec`: the causes, "" for a valid pod. */
static char *validate(const char *spec)
{
	_cleanup_json_ json_t *pod = pod_with_spec(spec);
	pod_strategy.set_defaults(pod);
	struct field_errors errors;
	field_errors_init(&errors);
	pod_strategy.validate(pod, &errors);
	char *text = causes_of(&errors);
	field_errors_clear(&errors);
	return text ? text : strdup("");
}

static void assert_causes(const char *spec, const char *expected)
{
	_cleanup_free_ char *got = validate(spec);
	assert_string_equal(got, expected);
}

/* One container "c" mounting `mounts`, beside `volumes`. */
#define WITH_MOUNTS(volumes, mounts) \
	"{'volumes':" volumes        \
	",'containers':[{'name':'c','image':'busybox','volumeMounts':" mounts "}]}"

static void host_path(void **state)
{
	(void)state;
	static const char *const good_types[] = {
	    "",       "DirectoryOrCreate", "Directory",  "FileOrCreate", "File",
	    "Socket", "CharDevice",        "BlockDevice"};
	for (size_t i = 0; i < sizeof(good_types) / sizeof(good_types[0]); i++) {
		char spec[512];
		snprintf(
		    spec, sizeof(spec),
		    WITH_MOUNTS("[{'name':'data','hostPath':{'path':'/srv/..data','type':'%s'}}]",
				"[{'name':'data','mountPath':'/data'}]"),
		    good_types[i]);
		assert_causes(spec, "");
	}
	/* A refused volume cannot be mounted either: Kubernetes says so of each mount. */
	assert_causes(WITH_MOUNTS("[{'name':'data','hostPath':{'path':'/srv','type':'Dir'}}]",
				  "[{'name':'data','mountPath':'/data'}]"),
		      "spec.volumes[0].hostPath.type: Unsupported value: \"Dir\": " HOST_PATH_TYPES
		      ", spec.containers[0].volumeMounts[0].name: Not found: \"data\"");
	assert_causes(WITH_MOUNTS("[{'name':'data','hostPath':{'path':'','type':'Dir'}}]", "[]"),
		      "spec.volumes[0].hostPath.path: Required value");
	assert_causes(WITH_MOUNTS("[{'name':'data','hostPath':{'path':'/srv/../../etc'}}]", "[]"),
		      "spec.volumes[0].hostPath.path: Invalid value: \"/srv/../../etc\": must not "
		      "contain '..'");
	/* Not required to be absolute, as in Kubernetes. */
	assert_causes(WITH_MOUNTS("[{'name':'data','hostPath':{'path':'srv'}}]", "[]"), "");
}

static void nfs(void **state)
{
	(void)state;
	assert_causes(WITH_MOUNTS("[{'name':'n','nfs':{'server':'10.0.0.2','path':'/exports',"
				  "'readOnly':true}}]",
				  "[{'name':'n','mountPath':'/n'}]"),
		      "");
	assert_causes(WITH_MOUNTS("[{'name':'n','nfs':{}}]", "[]"),
		      "spec.volumes[0].nfs.server: Required value, spec.volumes[0].nfs.path: "
		      "Required value, spec.volumes[0].nfs.path: Invalid value: \"\": must be an "
		      "absolute path");
	assert_causes(WITH_MOUNTS("[{'name':'n','nfs':{'server':'nfs','path':'exports'}}]", "[]"),
		      "spec.volumes[0].nfs.path: Invalid value: \"exports\": must be an absolute "
		      "path");
}

static void secret_and_config_map(void **state)
{
	(void)state;
	assert_causes(
	    WITH_MOUNTS(
		"[{'name':'s','secret':{'secretName':'tls','defaultMode':511,'optional':true,"
		"'items':[{'key':'tls.crt','path':'certs/tls.crt','mode':0}]}},"
		"{'name':'m','configMap':{'name':'conf','defaultMode':0,'optional':false,"
		"'items':[{'key':'a','path':'..a/b','mode':511}]}}]",
		"[{'name':'s','mountPath':'/s'},{'name':'m','mountPath':'/m'}]"),
	    "spec.volumes[1].configMap.items[0].path: Invalid value: \"..a/b\": must not start "
	    "with '..', spec.containers[0].volumeMounts[1].name: Not found: \"m\"");
	assert_causes(
	    WITH_MOUNTS("[{'name':'s','secret':{'defaultMode':512,'items':["
			"{'key':'','path':'/etc/passwd'},{'key':'k','path':'a/../b','mode':-1},"
			"{'key':'k','path':'..'},{'key':'k','path':'','mode':1000}]}}]",
			"[]"),
	    "spec.volumes[0].secret.secretName: Required value, "
	    "spec.volumes[0].secret.defaultMode: Invalid value: 512: " MODE_MSG ", "
	    "spec.volumes[0].secret.items[0].key: Required value, "
	    "spec.volumes[0].secret.items[0].path: Invalid value: \"/etc/passwd\": must be a "
	    "relative path, "
	    "spec.volumes[0].secret.items[1].path: Invalid value: \"a/../b\": must not contain "
	    "'..', "
	    "spec.volumes[0].secret.items[1].mode: Invalid value: -1: " MODE_MSG ", "
	    "spec.volumes[0].secret.items[2].path: Invalid value: \"..\": must not contain '..', "
	    "spec.volumes[0].secret.items[2].path: Invalid value: \"..\": must not start with "
	    "'..', "
	    "spec.volumes[0].secret.items[3].path: Required value, "
	    "spec.volumes[0].secret.items[3].mode: Invalid value: 1000: " MODE_MSG);
	assert_causes(WITH_MOUNTS("[{'name':'m','configMap':{'defaultMode':-8}}]", "[]"),
		      "spec.volumes[0].configMap.name: Required value, "
		      "spec.volumes[0].configMap.defaultMode: Invalid value: -8: " MODE_MSG);
	assert_causes(WITH_MOUNTS("[{'name':'d','downwardAPI':{'defaultMode':4096}},"
				  "{'name':'p','projected':{'defaultMode':512}}]",
				  "[]"),
		      "spec.volumes[0].downwardAPI.defaultMode: Invalid value: 4096: " MODE_MSG ", "
		      "spec.volumes[1].projected.defaultMode: Invalid value: 512: " MODE_MSG);
}

static void empty_dir(void **state)
{
	(void)state;
	/* Kubernetes takes any medium and leaves an unknown one to the kubelet. */
	assert_causes(
	    WITH_MOUNTS("[{'name':'a','emptyDir':{}},"
			"{'name':'b','emptyDir':{'medium':'Memory','sizeLimit':'64Mi'}},"
			"{'name':'c','emptyDir':{'medium':'HugePages-2Mi','sizeLimit':0}},"
			"{'name':'d','emptyDir':{'medium':'Floppy'}}]",
			"[{'name':'a','mountPath':'/a'},{'name':'b','mountPath':'/b'}]"),
	    "");
	assert_causes(WITH_MOUNTS("[{'name':'a','emptyDir':{'sizeLimit':'-1Gi'}}]", "[]"),
		      "spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a "
		      "valid resource quantity");
}

static void volume_types_and_names(void **state)
{
	(void)state;
	/* The first source is checked (emptyDir), each later one refused under its Kubernetes
	 * spelling; the hostPath's missing path is not reported. */
	assert_causes(WITH_MOUNTS("[{'name':'x','emptyDir':{},'hostPath':{'path':''},"
				  "'cephfs':{'monitors':['m']},'downwardAPI':{}}]",
				  "[]"),
		      "spec.volumes[0].hostPath: " TWO_TYPES ", spec.volumes[0].cephFS: " TWO_TYPES
		      ", spec.volumes[0].downwarAPI: " TWO_TYPES);
	/* A source given as null is no source; the volume becomes an emptyDir. */
	assert_causes(
	    WITH_MOUNTS("[{'name':'x','hostPath':null}]", "[{'name':'x','mountPath':'/x'}]"), "");
	assert_causes(
	    WITH_MOUNTS("[{'name':'Bad_Name','emptyDir':{}},{'name':'a','emptyDir':{}},"
			"{'name':'a','emptyDir':{}},{'emptyDir':{}}]",
			"[{'name':'Bad_Name','mountPath':'/b'},{'name':'a','mountPath':'/a'}]"),
	    "spec.volumes[0].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label "
	    "must consist of lower case alphanumeric characters or '-', and must start and "
	    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
	    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'), "
	    "spec.volumes[2].name: Duplicate value: \"a\", "
	    "spec.volumes[3].name: Required value, "
	    "spec.containers[0].volumeMounts[0].name: Not found: \"Bad_Name\"");
	/* The first "a" is refused, so the second is no duplicate and is what the mount uses. */
	assert_causes(WITH_MOUNTS("[{'name':'a','nfs':{'server':'s','path':'rel'}},"
				  "{'name':'a','emptyDir':{}}]",
				  "[{'name':'a','mountPath':'/a'}]"),
		      "spec.volumes[0].nfs.path: Invalid value: \"rel\": must be an absolute path");
}

static void no_source_without_defaults(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod =
	    pod_with_spec("{'volumes':[{'name':'x'}],'containers':[{'name':'c','image':'i'}]}");
	struct field_errors errors;
	field_errors_init(&errors);
	pod_strategy.validate(pod, &errors);
	_cleanup_free_ char *text = causes_of(&errors);
	assert_string_equal(text, "spec.volumes[0]: Required value: must specify a volume type");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(errors.causes, 0), "reason")),
	    "FieldValueRequired");
	field_errors_clear(&errors);
}

static void defaults(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod = pod_with_spec(
	    "{'volumes':[{'name':'bare'},{'name':'h','hostPath':{'path':'/srv'}},"
	    "{'name':'s','secret':{'secretName':'x'}},{'name':'m','configMap':{'name':'x',"
	    "'defaultMode':256}},{'name':'d','downwardAPI':{}},{'name':'p','projected':{}},"
	    "{'name':'t','hostPath':{'path':'/t','type':'Socket'}}],"
	    "'containers':[{'name':'c','image':'i'}]}");
	pod_strategy.set_defaults(pod);
	json_t *volumes = json_path(pod, "spec.volumes");
	_cleanup_free_ char *bare = json_dump_compact(json_array_get(volumes, 0));
	assert_string_equal(bare, "{\"name\":\"bare\",\"emptyDir\":{}}");
	assert_string_equal(json_path_string(json_array_get(volumes, 1), "hostPath.type"), "");
	assert_int_equal(
	    json_integer_value(json_path(json_array_get(volumes, 2), "secret.defaultMode")), 0644);
	assert_int_equal(
	    json_integer_value(json_path(json_array_get(volumes, 3), "configMap.defaultMode")),
	    0400);
	assert_int_equal(
	    json_integer_value(json_path(json_array_get(volumes, 4), "downwardAPI.defaultMode")),
	    0644);
	assert_int_equal(
	    json_integer_value(json_path(json_array_get(volumes, 5), "projected.defaultMode")),
	    0644);
	assert_string_equal(json_path_string(json_array_get(volumes, 6), "hostPath.type"),
			    "Socket");
}

static void mount_names_and_paths(void **state)
{
	(void)state;
	assert_causes(
	    WITH_MOUNTS("[{'name':'a','emptyDir':{}}]",
			"[{'name':'','mountPath':'/a'},{'name':'a','mountPath':''},"
			"{'name':'a','mountPath':'/a'},{'name':'a','mountPath':''},"
			"{'name':'nope','mountPath':'/n','readOnly':true}]"),
	    "spec.containers[0].volumeMounts[0].name: Required value, "
	    "spec.containers[0].volumeMounts[0].name: Not found: \"\", "
	    "spec.containers[0].volumeMounts[1].mountPath: Required value, "
	    "spec.containers[0].volumeMounts[2].mountPath: Invalid value: \"/a\": must be "
	    "unique, "
	    "spec.containers[0].volumeMounts[3].mountPath: Required value, "
	    "spec.containers[0].volumeMounts[3].mountPath: Invalid value: \"\": must be "
	    "unique, "
	    "spec.containers[0].volumeMounts[4].name: Not found: \"nope\"");
}

static void sub_paths(void **state)
{
	(void)state;
	assert_causes(
	    WITH_MOUNTS("[{'name':'a','emptyDir':{}}]",
			"[{'name':'a','mountPath':'/1','subPath':'x/y..z/..w'},"
			"{'name':'a','mountPath':'/2','subPathExpr':'$(POD_NAME)/logs'}]"),
	    "");
	/* Kubernetes reports these under the list's path, without the mount's index. */
	assert_causes(
	    WITH_MOUNTS("[{'name':'a','emptyDir':{}}]",
			"[{'name':'a','mountPath':'/1','subPath':'/etc'},"
			"{'name':'a','mountPath':'/2','subPath':'x/../../y'},"
			"{'name':'a','mountPath':'/3','subPath':'x','subPathExpr':'$(A)'},"
			"{'name':'a','mountPath':'/4','subPathExpr':'/$(A)/..'}]"),
	    "spec.containers[0].volumeMounts.subPath: Invalid value: \"/etc\": must be a "
	    "relative path, "
	    "spec.containers[0].volumeMounts.subPath: Invalid value: \"x/../../y\": must "
	    "not contain '..', "
	    "spec.containers[0].volumeMounts[2].subPathExpr: Invalid value: \"$(A)\": "
	    "subPathExpr and subPath are mutually exclusive, "
	    "spec.containers[0].volumeMounts.subPathExpr: Invalid value: \"/$(A)/..\": "
	    "must be a relative path, "
	    "spec.containers[0].volumeMounts.subPathExpr: Invalid value: \"/$(A)/..\": "
	    "must not contain '..'");
	assert_causes(WITH_MOUNTS("[{'name':'img','image':{'reference':'busybox'}}]",
				  "[{'name':'img','mountPath':'/i','subPath':'bin'}]"),
		      "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"bin\": not "
		      "allowed in image volume sources");
}

static void propagation(void **state)
{
	(void)state;
	assert_causes(
	    "{'volumes':[{'name':'a','hostPath':{'path':'/mnt'}}],'containers':["
	    "{'name':'c','image':'i','securityContext':{'privileged':true},"
	    "'volumeMounts':[{'name':'a','mountPath':'/1','mountPropagation':'Bidirectional'}]},"
	    "{'name':'d','image':'i','volumeMounts':[{'name':'a','mountPath':'/1',"
	    "'mountPropagation':'HostToContainer'},{'name':'a','mountPath':'/2',"
	    "'mountPropagation':'None'}]}]}",
	    "");
	assert_causes(
	    WITH_MOUNTS("[{'name':'a','hostPath':{'path':'/mnt'}}]",
			"[{'name':'a','mountPath':'/1','mountPropagation':'Shared'},"
			"{'name':'a','mountPath':'/2','mountPropagation':'Bidirectional'}]"),
	    "spec.containers[0].volumeMounts.mountPropagation: Unsupported value: "
	    "\"Shared\": supported values: \"Bidirectional\", \"HostToContainer\", \"None\", "
	    "spec.containers[0].volumeMounts.mountPropagation: Forbidden: Bidirectional "
	    "mount propagation is available only to privileged containers");
	assert_causes("{'volumes':[{'name':'a','emptyDir':{}}],'containers':[{'name':'c','image':"
		      "'i','securityContext':{'privileged':false},'volumeMounts':[{'name':'a',"
		      "'mountPath':'/1','mountPropagation':'Bidirectional'}]}]}",
		      "spec.containers[0].volumeMounts.mountPropagation: Forbidden: Bidirectional "
		      "mount propagation is available only to privileged containers");
}

static void recursive_read_only(void **state)
{
	(void)state;
	assert_causes(
	    WITH_MOUNTS("[{'name':'a','emptyDir':{}}]",
			"[{'name':'a','mountPath':'/1','readOnly':true,'recursiveReadOnly':"
			"'Enabled'},{'name':'a','mountPath':'/2','recursiveReadOnly':"
			"'Disabled'},{'name':'a','mountPath':'/3','readOnly':true,"
			"'recursiveReadOnly':'IfPossible','mountPropagation':'None'}]"),
	    "");
	assert_causes(WITH_MOUNTS("[{'name':'a','emptyDir':{}}]",
				  "[{'name':'a','mountPath':'/1','recursiveReadOnly':'Enabled',"
				  "'mountPropagation':'HostToContainer'},"
				  "{'name':'a','mountPath':'/2','recursiveReadOnly':'Always'}]"),
		      "spec.containers[0].volumeMounts.recursiveReadOnly: Forbidden: may only be "
		      "specified when readOnly is true, "
		      "spec.containers[0].volumeMounts.recursiveReadOnly: Forbidden: may only be "
		      "specified when mountPropagation is None or not specified, "
		      "spec.containers[0].volumeMounts.recursiveReadOnly: Unsupported value: "
		      "\"Always\": supported values: \"Disabled\", \"Enabled\", \"IfPossible\"");
}

/* Init containers get the same checks, after the regular containers as in Kubernetes, which
 * also reports a name both lists use on the init container. */
static void init_containers(void **state)
{
	(void)state;
	assert_causes(
	    "{'volumes':[{'name':'a','emptyDir':{}}],"
	    "'initContainers':[{'name':'c','image':'i','volumeMounts':["
	    "{'name':'nope','mountPath':'/1'},"
	    "{'name':'a','mountPath':'/2','subPath':'/x','mountPropagation':'Bidirectional'}]}],"
	    "'containers':[{'name':'c','image':'i','volumeMounts':[{'name':'gone',"
	    "'mountPath':'/1'}]}]}",
	    "spec.containers[0].volumeMounts[0].name: Not found: \"gone\", "
	    "spec.initContainers[0].name: Duplicate value: \"c\", "
	    "spec.initContainers[0].volumeMounts[0].name: Not found: \"nope\", "
	    "spec.initContainers[0].volumeMounts.subPath: Invalid value: \"/x\": must be a "
	    "relative path, "
	    "spec.initContainers[0].volumeMounts.mountPropagation: Forbidden: "
	    "Bidirectional mount propagation is available only to privileged containers");
}

/* The message of the 422 a client reads, and the reasons of its causes. */
static void status_message(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod = pod_with_spec(WITH_MOUNTS(
	    "[{'name':'data','hostPath':{'path':'/srv','type':'Dir'}}]",
	    "[{'name':'data','mountPath':'/data','mountPropagation':'Bidirectional'}]"));
	pod_strategy.set_defaults(pod);
	struct field_errors errors;
	field_errors_init(&errors);
	pod_strategy.validate(pod, &errors);
	struct api_status status = {0};
	assert_int_equal(
	    api_fail_invalid(&status, api_resource_find("", "v1", "pods"), "web", &errors), -1);
	assert_int_equal(status.code, 422);
	assert_string_equal(status.reason, "Invalid");
	assert_string_equal(
	    status.message,
	    "Pod \"web\" is invalid: [spec.volumes[0].hostPath.type: Unsupported value: "
	    "\"Dir\": " HOST_PATH_TYPES
	    ", spec.containers[0].volumeMounts[0].name: Not found: \"data\", "
	    "spec.containers[0].volumeMounts.mountPropagation: Forbidden: Bidirectional mount "
	    "propagation is available only to privileged containers]");
	json_t *causes = json_object_get(status.details, "causes");
	assert_int_equal(json_array_size(causes), 3);
	static const char *const reasons[] = {"FieldValueNotSupported", "FieldValueNotFound",
					      "FieldValueForbidden"};
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(causes, i), "reason")),
		    reasons[i]);
	api_status_clear(&status);
	field_errors_clear(&errors);
}

/* Volumes stay immutable on update; an unchanged pod passes as before. */
static void updates(void **state)
{
	(void)state;
	const char *spec = WITH_MOUNTS("[{'name':'data','hostPath':{'path':'/srv'}}]",
				       "[{'name':'data','mountPath':'/data'}]");
	_cleanup_json_ json_t *old = pod_with_spec(spec);
	pod_strategy.set_defaults(old);
	_cleanup_json_ json_t *same = pod_with_spec(spec);
	pod_strategy.set_defaults(same);
	struct field_errors errors;
	field_errors_init(&errors);
	pod_strategy.validate(same, &errors);
	pod_strategy.validate_update(same, old, &errors);
	assert_int_equal(field_errors_count(&errors), 0);

	json_t *host_path =
	    json_path(json_array_get(json_path(same, "spec.volumes"), 0), "hostPath");
	json_object_set_new(host_path, "path", json_string("/etc"));
	pod_strategy.validate(same, &errors);
	pod_strategy.validate_update(same, old, &errors);
	assert_int_equal(field_errors_count(&errors), 1);
	json_t *cause = json_array_get(errors.causes, 0);
	assert_string_equal(json_string_value(json_object_get(cause, "field")), "spec");
	assert_string_equal(json_string_value(json_object_get(cause, "reason")),
			    "FieldValueForbidden");
	field_errors_clear(&errors);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(host_path),
	    cmocka_unit_test(nfs),
	    cmocka_unit_test(secret_and_config_map),
	    cmocka_unit_test(empty_dir),
	    cmocka_unit_test(volume_types_and_names),
	    cmocka_unit_test(no_source_without_defaults),
	    cmocka_unit_test(defaults),
	    cmocka_unit_test(mount_names_and_paths),
	    cmocka_unit_test(sub_paths),
	    cmocka_unit_test(propagation),
	    cmocka_unit_test(recursive_read_only),
	    cmocka_unit_test(init_containers),
	    cmocka_unit_test(status_message),
	    cmocka_unit_test(updates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
