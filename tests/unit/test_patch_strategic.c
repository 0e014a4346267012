/* Strategic merge patch on a Pod-like schema, with the cases of Kubernetes' strategicpatch
 * package that the API server meets: lists merged by key or as sets, directives, ordering,
 * and patches of the wrong shape. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver/patch.h"
#include "apiserver/schema.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

#define FIELDS(array) .fields = array, .field_count = sizeof(array) / sizeof(array[0])

static const struct schema_type string_type = {.kind = SCHEMA_STRING, .name = "string"};
static const struct schema_type int_type = {.kind = SCHEMA_INTEGER, .name = "int32", .bits = 32};
static const struct schema_type string_map = {
    .kind = SCHEMA_MAP, .name = "{}string", .element = &string_type};
static const struct schema_type string_list = {
    .kind = SCHEMA_ARRAY, .name = "[]string", .element = &string_type};

static const struct schema_field container_port_fields[] = {
    {"containerPort", &int_type},
    {"name", &string_type},
    {"protocol", &string_type},
};
static const struct schema_type container_port = {
    .kind = SCHEMA_OBJECT, .name = "ContainerPort", FIELDS(container_port_fields)};
static const struct schema_type container_port_list = {
    .kind = SCHEMA_ARRAY, .name = "[]ContainerPort", .element = &container_port};

static const struct schema_field env_var_fields[] = {
    {"name", &string_type},
    {"value", &string_type},
};
static const struct schema_type env_var = {
    .kind = SCHEMA_OBJECT, .name = "EnvVar", FIELDS(env_var_fields)};
static const struct schema_type env_var_list = {
    .kind = SCHEMA_ARRAY, .name = "[]EnvVar", .element = &env_var};

static const struct schema_field container_fields[] = {
    {"args", &string_list},
    {"env", &env_var_list, PATCH_STRATEGY_MERGE, "name"},
    {"image", &string_type},
    {"name", &string_type},
    {"ports", &container_port_list, PATCH_STRATEGY_MERGE, "containerPort"},
};
static const struct schema_type container = {
    .kind = SCHEMA_OBJECT, .name = "Container", FIELDS(container_fields)};
static const struct schema_type container_list = {
    .kind = SCHEMA_ARRAY, .name = "[]Container", .element = &container};

static const struct schema_field host_path_fields[] = {
    {"path", &string_type},
    {"type", &string_type},
};
static const struct schema_type host_path = {
    .kind = SCHEMA_OBJECT, .name = "HostPathVolumeSource", FIELDS(host_path_fields)};
static const struct schema_field empty_dir_fields[] = {
    {"medium", &string_type},
};
static const struct schema_type empty_dir = {
    .kind = SCHEMA_OBJECT, .name = "EmptyDirVolumeSource", FIELDS(empty_dir_fields)};
static const struct schema_field volume_fields[] = {
    {"emptyDir", &empty_dir},
    {"hostPath", &host_path},
    {"name", &string_type},
};
static const struct schema_type volume = {
    .kind = SCHEMA_OBJECT, .name = "Volume", FIELDS(volume_fields)};
static const struct schema_type volume_list = {
    .kind = SCHEMA_ARRAY, .name = "[]Volume", .element = &volume};

/* Not in a real PodSpec: fields to try the "replace" strategy on an object and a list merged
 * without a key. */
static const struct schema_field selector_fields[] = {
    {"matchLabels", &string_map},
    {"tier", &string_type},
};
static const struct schema_type selector = {
    .kind = SCHEMA_OBJECT, .name = "Selector", FIELDS(selector_fields)};

static const struct schema_field pod_spec_fields[] = {
    {"containers", &container_list, PATCH_STRATEGY_MERGE, "name"},
    {"initContainers", &container_list, PATCH_STRATEGY_MERGE, "name"},
    {"keylessVolumes", &volume_list, PATCH_STRATEGY_MERGE},
    {"nodeSelector", &string_map},
    {"replacedSelector", &selector, PATCH_STRATEGY_REPLACE},
    {"volumes", &volume_list, PATCH_STRATEGY_MERGE_RETAIN_KEYS, "name"},
};
static const struct schema_type pod_spec = {
    .kind = SCHEMA_OBJECT, .name = "PodSpec", FIELDS(pod_spec_fields)};

static const struct schema_field object_meta_fields[] = {
    {"annotations", &string_map},
    {"finalizers", &string_list, PATCH_STRATEGY_MERGE},
    {"labels", &string_map},
    {"name", &string_type},
};
static const struct schema_type object_meta = {
    .kind = SCHEMA_OBJECT, .name = "ObjectMeta", FIELDS(object_meta_fields)};

static const struct schema_field condition_fields[] = {
    {"status", &string_type},
    {"type", &string_type},
};
static const struct schema_type condition = {
    .kind = SCHEMA_OBJECT, .name = "PodCondition", FIELDS(condition_fields)};
static const struct schema_type condition_list = {
    .kind = SCHEMA_ARRAY, .name = "[]PodCondition", .element = &condition};
static const struct schema_field pod_status_fields[] = {
    {"conditions", &condition_list, PATCH_STRATEGY_MERGE, "type"},
    {"phase", &string_type},
};
static const struct schema_type pod_status = {
    .kind = SCHEMA_OBJECT, .name = "PodStatus", FIELDS(pod_status_fields)};

static const struct schema_field pod_fields[] = {
    {"apiVersion", &string_type}, {"kind", &string_type},  {"metadata", &object_meta},
    {"spec", &pod_spec},          {"status", &pod_status},
};
static const struct schema_type pod = {.kind = SCHEMA_OBJECT, .name = "Pod", FIELDS(pod_fields)};

/* Test documents use single quotes, which no test string needs as a character. */
static json_t *parse(const char *text)
{
	_cleanup_free_ char *json = strdup(text);
	for (char *c = json; *c; c++)
		if (*c == '\'')
			*c = '"';
	json_error_t error;
	json_t *value = json_loads(json, JSON_DECODE_ANY, &error);
	if (!value)
		fail_msg("bad test JSON %s: %s", text, error.text);
	return value;
}

static void assert_json(const json_t *actual, const char *expected_text)
{
	_cleanup_json_ json_t *expected = parse(expected_text);
	if (!json_equal(actual, expected)) {
		_cleanup_free_ char *got = json_dumps(actual, JSON_COMPACT | JSON_ENCODE_ANY);
		fail_msg("expected %s\n     got %s", expected_text, got);
	}
}

static void assert_patches_to(const struct schema_type *type, const char *original_text,
			      const char *patch_text, const char *expected)
{
	_cleanup_json_ json_t *original = parse(original_text);
	_cleanup_json_ json_t *patch = parse(patch_text);
	_cleanup_json_ json_t *result = NULL;
	struct ck_error err = {0};
	if (strategic_merge_patch_apply(original, patch, type, &result, &err) != 0)
		fail_msg("patch %s failed: %s", patch_text, err.message);
	assert_json(result, expected);
	assert_json(original, original_text);
	assert_json(patch, patch_text);
}

/* Fails with -EINVAL and exactly `message`; the result stays untouched. */
static void assert_patch_fails(const struct schema_type *type, const char *original_text,
			       const char *patch_text, const char *message)
{
	_cleanup_json_ json_t *original = parse(original_text);
	_cleanup_json_ json_t *patch = parse(patch_text);
	json_t *result = (json_t *)0x1;
	struct ck_error err = {0};
	assert_int_equal(strategic_merge_patch_apply(original, patch, type, &result, &err),
			 -EINVAL);
	assert_ptr_equal(result, (json_t *)0x1);
	assert_string_equal(err.message, message);
	assert_json(original, original_text);
}

static void test_containers_merge_by_name(void **state)
{
	(void)state;
	/* As in Kubernetes, a new item follows the patch item before it, ahead of items only the
	 * original list has. */
	assert_patches_to(&pod,
			  "{'spec':{'containers':[{'name':'web','image':'nginx:1'},"
			  "{'name':'log','image':'busybox'}]}}",
			  "{'spec':{'containers':[{'name':'web','image':'nginx:2'},"
			  "{'name':'sidecar','image':'envoy'}]}}",
			  "{'spec':{'containers':[{'name':'web','image':'nginx:2'},"
			  "{'name':'sidecar','image':'envoy'},{'name':'log','image':'busybox'}]}}");
}

static void test_ports_and_env_merge_inside_containers(void **state)
{
	(void)state;
	assert_patches_to(
	    &pod,
	    "{'spec':{'containers':[{'name':'web','image':'nginx',"
	    "'ports':[{'containerPort':80,'name':'http'},{'containerPort':443}],"
	    "'env':[{'name':'A','value':'1'},{'name':'B','value':'2'}]}]}}",
	    "{'spec':{'containers':[{'name':'web',"
	    "'ports':[{'containerPort':80,'protocol':'TCP'},{'containerPort':8080}],"
	    "'env':[{'name':'B','value':'3'},{'name':'C','value':null}]}]}}",
	    "{'spec':{'containers':[{'name':'web','image':'nginx',"
	    "'ports':[{'containerPort':80,'name':'http','protocol':'TCP'},{'containerPort':8080},"
	    "{'containerPort':443}],"
	    "'env':[{'name':'A','value':'1'},{'name':'B','value':'3'},{'name':'C'}]}]}}");
	/* Numbers match by value, as Go's float64 do; the patch's value is the one kept. */
	assert_patches_to(&pod,
			  "{'spec':{'containers':[{'name':'web','ports':[{'containerPort':80}]}]}}",
			  "{'spec':{'containers':[{'name':'web','ports':[{'containerPort':80.0,"
			  "'name':'http'}]}]}}",
			  "{'spec':{'containers':[{'name':'web','ports':[{'containerPort':80.0,"
			  "'name':'http'}]}]}}");
}

static void test_volumes_merge_by_name(void **state)
{
	(void)state;
	assert_patches_to(&pod,
			  "{'spec':{'volumes':[{'name':'data','hostPath':{'path':'/srv'}},"
			  "{'name':'tmp','emptyDir':{}}]}}",
			  "{'spec':{'volumes':[{'name':'data','hostPath':{'type':'Directory'}},"
			  "{'name':'cache','emptyDir':{'medium':'Memory'}}]}}",
			  "{'spec':{'volumes':[{'name':'data','hostPath':{'path':'/srv','type':"
			  "'Directory'}},{'name':'cache','emptyDir':{'medium':'Memory'}},"
			  "{'name':'tmp','emptyDir':{}}]}}");
}

static void test_retain_keys_switches_volume_source(void **state)
{
	(void)state;
	assert_patches_to(&pod, "{'spec':{'volumes':[{'name':'data','hostPath':{'path':'/srv'}}]}}",
			  "{'spec':{'volumes':[{'name':'data','emptyDir':{},"
			  "'$retainKeys':['emptyDir','name']}]}}",
			  "{'spec':{'volumes':[{'name':'data','emptyDir':{}}]}}");
	assert_patch_fails(&pod, "{'spec':{'volumes':[{'name':'data','hostPath':{'path':'/'}}]}}",
			   "{'spec':{'volumes':[{'name':'data','emptyDir':{},"
			   "'$retainKeys':['name']}]}}",
			   "spec.volumes[0]: field \"emptyDir\" is patched but not in $retainKeys");
	assert_patch_fails(&pod, "{'spec':{}}", "{'spec':{'$retainKeys':'name'}}",
			   "spec: $retainKeys must be a list of field names");
	assert_patch_fails(&pod, "{'spec':{}}", "{'spec':{'$retainKeys':['a',1]}}",
			   "spec: $retainKeys must be a list of field names");
}

static void test_finalizers_merge_as_a_set(void **state)
{
	(void)state;
	assert_patches_to(&pod, "{'metadata':{'finalizers':['a','b']}}",
			  "{'metadata':{'finalizers':['b','c','c']}}",
			  "{'metadata':{'finalizers':['a','b','c']}}");
	assert_patches_to(&pod, "{'metadata':{}}", "{'metadata':{'finalizers':['x']}}",
			  "{'metadata':{'finalizers':['x']}}");
	assert_patches_to(&pod, "{'metadata':{'finalizers':['a','b','c']}}",
			  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['b','z']}}",
			  "{'metadata':{'finalizers':['a','c']}}");
	/* Deleting from a list that is not there adds nothing. */
	assert_patches_to(&pod, "{'metadata':{}}",
			  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['b']}}",
			  "{'metadata':{}}");
	/* Whatever the strategy: args are replaced when patched, yet can be deleted from. */
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'c','args':['-v','-q']}]}}",
			  "{'spec':{'containers':[{'name':'c',"
			  "'$deleteFromPrimitiveList/args':['-v']}]}}",
			  "{'spec':{'containers':[{'name':'c','args':['-q']}]}}");
	assert_patch_fails(&pod, "{'metadata':{'finalizers':['a']}}",
			   "{'metadata':{'finalizers':[{'name':'a'}]}}",
			   "metadata.finalizers[0]: a list merged as a set holds scalars only "
			   "(objects need a merge key)");
	assert_patch_fails(&pod, "{'metadata':{'finalizers':['a']}}",
			   "{'metadata':{'$deleteFromPrimitiveList/finalizers':'a'}}",
			   "metadata.$deleteFromPrimitiveList/finalizers: $deleteFromPrimitiveList "
			   "must be a list");
	assert_patch_fails(&pod, "{'metadata':{'finalizers':['a']}}",
			   "{'metadata':{'$deleteFromPrimitiveList/finalizers':[['a']]}}",
			   "metadata.$deleteFromPrimitiveList/finalizers: $deleteFromPrimitiveList "
			   "item 0 is not a scalar");
}

static void test_conditions_merge_by_type(void **state)
{
	(void)state;
	assert_patches_to(&pod,
			  "{'status':{'phase':'Pending','conditions':["
			  "{'type':'PodScheduled','status':'True'},"
			  "{'type':'Ready','status':'False'}]}}",
			  "{'status':{'phase':'Running','conditions':["
			  "{'type':'Ready','status':'True'}]}}",
			  "{'status':{'phase':'Running','conditions':["
			  "{'type':'PodScheduled','status':'True'},"
			  "{'type':'Ready','status':'True'}]}}");
}

static void test_delete_container_with_patch_delete(void **state)
{
	(void)state;
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':'c'}]}}",
			  "{'spec':{'containers':[{'name':'b','$patch':'delete'}]}}",
			  "{'spec':{'containers':[{'name':'a'},{'name':'c'}]}}");
	/* Every item with the key goes; deleting a missing one is no error. */
	assert_patches_to(&pod,
			  "{'spec':{'containers':[{'name':'a'},{'name':'a','image':'x'},"
			  "{'name':'b'}]}}",
			  "{'spec':{'containers':[{'name':'a','$patch':'delete'},"
			  "{'name':'z','$patch':'delete'}]}}",
			  "{'spec':{'containers':[{'name':'b'}]}}");
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			   "{'spec':{'containers':[{'$patch':'delete'}]}}",
			   "spec.containers[0]: the merge key \"name\" is missing or not a scalar");
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a','args':['x']}]}}",
			   "{'spec':{'containers':[{'name':'a','args':[{'$patch':'delete'}]}]}}",
			   "spec.containers[0].args[0]: \"$patch\": \"delete\" needs a list merged "
			   "by key");
}

static void test_replace_list_with_patch_replace(void **state)
{
	(void)state;
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'a','image':'x'},{'name':'b'}]}}",
			  "{'spec':{'containers':[{'name':'c'},{'$patch':'replace'}]}}",
			  "{'spec':{'containers':[{'name':'c'}]}}");
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			  "{'spec':{'containers':[{'$patch':'replace'}]}}",
			  "{'spec':{'containers':[]}}");
	assert_patches_to(&pod, "{'metadata':{'finalizers':['a','b']}}",
			  "{'metadata':{'finalizers':[{'$patch':'replace'},'c']}}",
			  "{'metadata':{'finalizers':['c']}}");
}

static void test_set_element_order(void **state)
{
	(void)state;
	/* Reordering alone, with no change to the list. */
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':'c'}]}}",
			  "{'spec':{'$setElementOrder/containers':[{'name':'c'},{'name':'a'},"
			  "{'name':'b'}]}}",
			  "{'spec':{'containers':[{'name':'c'},{'name':'a'},{'name':'b'}]}}");
	/* A change and an addition in the given order; the item the order does not name
	 * keeps its place. */
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':'c'}]}}",
			  "{'spec':{'$setElementOrder/containers':[{'name':'d'},{'name':'a'},"
			  "{'name':'c'}],"
			  "'containers':[{'name':'d'},{'name':'c','image':'new'}]}}",
			  "{'spec':{'containers':[{'name':'d'},{'name':'a'},{'name':'b'},"
			  "{'name':'c','image':'new'}]}}");
	/* Names in the order but in no list are skipped. */
	assert_patches_to(&pod, "{'metadata':{'finalizers':['x','y']}}",
			  "{'metadata':{'$setElementOrder/finalizers':['y','q','x']}}",
			  "{'metadata':{'finalizers':['y','x']}}");
	/* An order for a list that is nowhere changes nothing. */
	assert_patches_to(&pod, "{'metadata':{}}",
			  "{'metadata':{'$setElementOrder/finalizers':['y']}}", "{'metadata':{}}");
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}",
			  "{'spec':{'$setElementOrder/containers':[{'name':'b'}],"
			  "'containers':[{'name':'a','$patch':'delete'}]}}",
			  "{'spec':{'containers':[{'name':'b'}]}}");

	assert_patch_fails(
	    &pod, "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}",
	    "{'spec':{'$setElementOrder/containers':[{'name':'a'},{'name':'b'}],"
	    "'containers':[{'name':'b'},{'name':'a'}]}}",
	    "spec.containers: the order of the list does not match $setElementOrder");
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			   "{'spec':{'$setElementOrder/containers':[{'name':'a'}],"
			   "'containers':[{'name':'z'}]}}",
			   "spec.containers: item 0 of the list is not in $setElementOrder");
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			   "{'spec':{'$setElementOrder/containers':{'name':'a'}}}",
			   "spec.containers: $setElementOrder must be a list");
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			   "{'spec':{'$setElementOrder/containers':['a']}}",
			   "spec.containers: $setElementOrder item 0 lacks the merge key");
	assert_patch_fails(&pod, "{'metadata':{'finalizers':['a']}}",
			   "{'metadata':{'$setElementOrder/finalizers':[{'a':1}]}}",
			   "metadata.finalizers: $setElementOrder item 0 is not a scalar");
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			   "{'spec':{'$setElementOrder/containers':[{'name':'a'}],"
			   "'containers':{'name':'a'}}}",
			   "spec.containers: $setElementOrder is given for a value that is not a "
			   "list");
}

static void test_patch_order_is_kept(void **state)
{
	(void)state;
	/* From Kubernetes' "preserve the order from the patch" cases. */
	assert_patches_to(&pod,
			  "{'spec':{'containers':[{'name':'1'},{'name':'2','image':'b'},"
			  "{'name':'3'}]}}",
			  "{'spec':{'containers':[{'name':'3','image':'c'},"
			  "{'name':'1','image':'a'}]}}",
			  "{'spec':{'containers':[{'name':'2','image':'b'},"
			  "{'name':'3','image':'c'},{'name':'1','image':'a'}]}}");
	assert_patches_to(&pod, "{'metadata':{'finalizers':['1','2','3']}}",
			  "{'metadata':{'finalizers':['3','1']}}",
			  "{'metadata':{'finalizers':['2','3','1']}}");
	/* An empty list patch merges nothing away. */
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}",
			  "{'spec':{'containers':[]}}",
			  "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}");
}

static void test_labels_added_and_removed(void **state)
{
	(void)state;
	assert_patches_to(&pod, "{'metadata':{'name':'web','labels':{'app':'web','old':'x'}}}",
			  "{'metadata':{'labels':{'old':null,'env':'prod','missing':null}}}",
			  "{'metadata':{'name':'web','labels':{'app':'web','env':'prod'}}}");
	/* Nulls are dropped from values that are new, too. */
	assert_patches_to(&pod, "{'metadata':{'name':'web'}}",
			  "{'metadata':{'annotations':{'a':'1','b':null}}}",
			  "{'metadata':{'name':'web','annotations':{'a':'1'}}}");
}

static void test_lists_without_schema_are_replaced(void **state)
{
	(void)state;
	assert_patches_to(NULL, "{'spec':{'containers':[{'name':'a'},{'name':'b'}]}}",
			  "{'spec':{'containers':[{'name':'b','image':'x'}]}}",
			  "{'spec':{'containers':[{'name':'b','image':'x'}]}}");
	/* A field the schema does not know behaves the same. */
	assert_patches_to(&pod, "{'spec':{'extra':[1,2],'nodeSelector':{'a':'1'}}}",
			  "{'spec':{'extra':[3],'nodeSelector':{'b':'2'}}}",
			  "{'spec':{'extra':[3],'nodeSelector':{'a':'1','b':'2'}}}");
	/* Directives inside replaced lists are still resolved. */
	assert_patches_to(NULL, "{'l':[1]}",
			  "{'l':[{'a':1,'b':null},{'$patch':'replace'},null,[{'m':{'$patch':"
			  "'replace','x':1}}]]}",
			  "{'l':[{'a':1},null,[{'m':{'x':1}}]]}");
	/* A list merged without a merge key cannot hold objects. */
	assert_patch_fails(&pod, "{'spec':{}}", "{'spec':{'keylessVolumes':[{'name':'a'}]}}",
			   "spec.keylessVolumes[0]: a list merged as a set holds scalars only "
			   "(objects need a merge key)");
}

static void test_map_directives(void **state)
{
	(void)state;
	assert_patches_to(&pod, "{'spec':{'nodeSelector':{'a':'1','b':'2'}}}",
			  "{'spec':{'nodeSelector':{'$patch':'replace','c':'3'}}}",
			  "{'spec':{'nodeSelector':{'c':'3'}}}");
	assert_patches_to(&pod, "{'spec':{'nodeSelector':{'a':'1','b':'2'}}}",
			  "{'spec':{'nodeSelector':{'$patch':'delete'}}}",
			  "{'spec':{'nodeSelector':{}}}");
	assert_patches_to(&pod, "{'spec':{}}", "{'spec':{'nodeSelector':{'$patch':'delete'}}}",
			  "{'spec':{}}");
	assert_patches_to(&pod, "{'spec':{'nodeSelector':{'a':'1'}}}",
			  "{'spec':{'nodeSelector':{'$patch':'merge','c':'3'}}}",
			  "{'spec':{'nodeSelector':{'a':'1','c':'3'}}}");
	assert_patches_to(&pod, "{'spec':{'containers':[{'name':'a','image':'x'}]}}",
			  "{'spec':{'containers':[{'name':'a','$patch':'merge','args':['y']}]}}",
			  "{'spec':{'containers':[{'name':'a','image':'x','args':['y']}]}}");
	assert_patches_to(&pod, "{'kind':'Pod','spec':{'x':1}}",
			  "{'$patch':'replace','kind':'Pod'}", "{'kind':'Pod'}");
	assert_patches_to(&pod, "{'kind':'Pod'}", "{'$patch':'delete'}", "{}");

	assert_patch_fails(&pod, "{'spec':{}}", "{'spec':{'nodeSelector':{'$patch':'remove'}}}",
			   "spec.nodeSelector: \"$patch\" must be \"replace\", \"delete\" or "
			   "\"merge\"");
	assert_patch_fails(&pod, "{}", "{'$patch':true}",
			   "\"$patch\" must be \"replace\", \"delete\" or \"merge\"");
	assert_patch_fails(&pod, "{'spec':{'containers':[]}}",
			   "{'spec':{'containers':[{'name':'a','$patch':7}]}}",
			   "spec.containers[0]: \"$patch\" must be \"replace\", \"delete\" or "
			   "\"merge\"");
}

static void test_replace_strategy_replaces_objects(void **state)
{
	(void)state;
	assert_patches_to(&pod,
			  "{'spec':{'replacedSelector':{'tier':'a','matchLabels':{'x':'1'}}}}",
			  "{'spec':{'replacedSelector':{'matchLabels':{'y':'2','z':null}}}}",
			  "{'spec':{'replacedSelector':{'matchLabels':{'y':'2'}}}}");
}

static void test_wrong_shapes(void **state)
{
	(void)state;
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			   "{'spec':{'containers':[{'image':'x'}]}}",
			   "spec.containers[0]: the merge key \"name\" is missing or not a scalar");
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			   "{'spec':{'containers':[{'name':{'x':1}}]}}",
			   "spec.containers[0]: the merge key \"name\" is missing or not a scalar");
	assert_patch_fails(&pod, "{'spec':{'containers':[{'name':'a'}]}}",
			   "{'spec':{'containers':[{'name':'a'},'b']}}",
			   "spec.containers[1]: a list merged by \"name\" holds objects only");
	assert_patch_fails(
	    &pod, "{'spec':{}}", "{'spec':{'containers':[{'name':'a','ports':[{'name':'http'}]}]}}",
	    "spec.containers[0].ports[0]: the merge key \"containerPort\" is missing "
	    "or not a scalar");

	_cleanup_json_ json_t *object = parse("{}");
	_cleanup_json_ json_t *list = parse("[]");
	json_t *result = NULL;
	struct ck_error err = {0};
	assert_int_equal(strategic_merge_patch_apply(object, list, &pod, &result, &err), -EINVAL);
	assert_string_equal(err.message, "a strategic merge patch must be a JSON object");
	assert_int_equal(strategic_merge_patch_apply(list, object, &pod, &result, &err), -EINVAL);
	assert_string_equal(err.message, "the object to patch is not a JSON object");
	assert_null(result);
}

static void test_depth_is_bounded(void **state)
{
	(void)state;
	json_t *deep = json_string("bottom");
	for (int i = 0; i < PATCH_MAX_DEPTH + 10; i++) {
		json_t *outer = i % 2 ? json_object() : json_array();
		if (json_is_object(outer))
			json_object_set_new(outer, "a", deep);
		else
			json_array_append_new(outer, deep);
		deep = outer;
	}
	_cleanup_json_ json_t *patch = json_object();
	json_object_set_new(patch, "x", deep);
	_cleanup_json_ json_t *original = json_object();
	json_t *result = NULL;
	struct ck_error err = {0};
	assert_int_equal(strategic_merge_patch_apply(original, patch, NULL, &result, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "nested deeper than 256 levels"));
	assert_null(result);
}

static void test_long_lists_merge(void **state)
{
	(void)state;
	/* Matching by index keeps this linear; a quadratic merge of hostile lists would stall. */
	enum { ITEMS = 20000 };
	_cleanup_json_ json_t *original = parse("{'spec':{'containers':[]}}");
	_cleanup_json_ json_t *patch = parse("{'spec':{'containers':[]}}");
	json_t *originals = json_path(original, "spec.containers");
	json_t *changes = json_path(patch, "spec.containers");
	for (int i = 0; i < ITEMS; i++) {
		json_array_append_new(originals, json_pack("{s:i}", "name", i));
		json_array_append_new(changes,
				      json_pack("{s:i,s:s}", "name", ITEMS - 1 - i, "image", "x"));
	}
	json_t *result = NULL;
	struct ck_error err = {0};
	assert_int_equal(strategic_merge_patch_apply(original, patch, &pod, &result, &err), 0);
	json_t *merged = json_path(result, "spec.containers");
	assert_int_equal(json_array_size(merged), ITEMS);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(merged, 0), "name")),
			 ITEMS - 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(merged, 0), "image")),
			    "x");
	json_decref(result);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_containers_merge_by_name),
	    cmocka_unit_test(test_ports_and_env_merge_inside_containers),
	    cmocka_unit_test(test_volumes_merge_by_name),
	    cmocka_unit_test(test_retain_keys_switches_volume_source),
	    cmocka_unit_test(test_finalizers_merge_as_a_set),
	    cmocka_unit_test(test_conditions_merge_by_type),
	    cmocka_unit_test(test_delete_container_with_patch_delete),
	    cmocka_unit_test(test_replace_list_with_patch_replace),
	    cmocka_unit_test(test_set_element_order),
	    cmocka_unit_test(test_patch_order_is_kept),
	    cmocka_unit_test(test_labels_added_and_removed),
	    cmocka_unit_test(test_lists_without_schema_are_replaced),
	    cmocka_unit_test(test_map_directives),
	    cmocka_unit_test(test_replace_strategy_replaces_objects),
	    cmocka_unit_test(test_wrong_shapes),
	    cmocka_unit_test(test_depth_is_bounded),
	    cmocka_unit_test(test_long_lists_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
