"""Pod volumes and volumeMounts through the API: bad specs refused with 422 Invalid and the field
errors kube-apiserver gives (as the raw API, the real kubectl and the Python client show them),
nothing stored; a pod with every volume kind ckube mounts accepted and read back with the v1
defaults; volumes immutable on update."""
import json

import pytest
from kubernetes.client.rest import ApiException

PODS = "/api/v1/namespaces/default/pods"
MERGE = {"Content-Type": "application/merge-patch+json"}

MODE = "must be a number between 0 and 0777 (octal), both inclusive"
HOST_PATH_TYPES = ('supported values: "", "BlockDevice", "CharDevice", "Directory", '
                   '"DirectoryOrCreate", "File", "FileOrCreate", "Socket"')
PROPAGATIONS = 'supported values: "Bidirectional", "HostToContainer", "None"'
BIDIRECTIONAL = "Bidirectional mount propagation is available only to privileged containers"


def pod(name, volumes, mounts=(), init_mounts=None, privileged=None):
    """A pod whose container "main" mounts `mounts`; with init_mounts, an init container
    "setup" mounts those."""
    main = {"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"],
            "volumeMounts": list(mounts)}
    if privileged is not None:
        main["securityContext"] = {"privileged": privileged}
    spec = {"volumes": list(volumes), "containers": [main]}
    if init_mounts is not None:
        spec["initContainers"] = [{"name": "setup", "image": "busybox:1.36",
                                   "command": ["true"], "volumeMounts": list(init_mounts)}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


# Each bad pod with the causes Kubernetes gives, in its order: (field, reason, message).
BAD_PODS = [
    pod("host-type", [{"name": "data", "hostPath": {"path": "/srv/data", "type": "Dir"}}],
        [{"name": "data", "mountPath": "/data"}]),
    pod("host-path", [{"name": "data", "hostPath": {"path": "/srv/../etc"}},
                      {"name": "none", "hostPath": {"path": ""}}]),
    pod("nfs", [{"name": "n", "nfs": {"server": "10.0.0.2", "path": "exports"}},
                {"name": "m", "nfs": {}}]),
    pod("files", [{"name": "s", "secret": {"defaultMode": 1000, "items": [
                      {"key": "", "path": "/etc/passwd"}, {"key": "k", "path": "a/../b"},
                      {"key": "k", "path": "..data", "mode": 512}]}},
                  {"name": "c", "configMap": {"name": "", "defaultMode": -1}}]),
    pod("sizes", [{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "-64Mi"}}]),
    pod("two-types", [{"name": "x", "emptyDir": {}, "hostPath": {"path": "/srv"}}]),
    pod("names", [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}],
        [{"name": "cache", "mountPath": "/cache"}, {"name": "data", "mountPath": "/d"},
         {"name": "data", "mountPath": "/d"}]),
    pod("mounts", [{"name": "data", "hostPath": {"path": "/srv"}}],
        [{"name": "data", "mountPath": "/a", "subPath": "/abs"},
         {"name": "data", "mountPath": "/b", "subPath": "x/../../y"},
         {"name": "data", "mountPath": "/c", "subPath": "x", "subPathExpr": "$(POD)"},
         {"name": "data", "mountPath": "/e", "subPathExpr": "/$(POD)"},
         {"name": "data", "mountPath": "/f", "mountPropagation": "Shared"},
         {"name": "data", "mountPath": "/g", "mountPropagation": "Bidirectional"}]),
    pod("init", [{"name": "data", "emptyDir": {}}], [{"name": "data", "mountPath": "/d"}],
        init_mounts=[{"name": "gone", "mountPath": "/g"},
                     {"name": "data", "mountPath": "/d", "mountPropagation": "Bidirectional"}]),
]

EXPECTED = {
    "host-type": [
        ("spec.volumes[0].hostPath.type", "FieldValueNotSupported",
         f'Unsupported value: "Dir": {HOST_PATH_TYPES}'),
        ("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", 'Not found: "data"')],
    "host-path": [
        ("spec.volumes[0].hostPath.path", "FieldValueInvalid",
         "Invalid value: \"/srv/../etc\": must not contain '..'"),
        ("spec.volumes[1].hostPath.path", "FieldValueRequired", "Required value")],
    "nfs": [
        ("spec.volumes[0].nfs.path", "FieldValueInvalid",
         'Invalid value: "exports": must be an absolute path'),
        ("spec.volumes[1].nfs.server", "FieldValueRequired", "Required value"),
        ("spec.volumes[1].nfs.path", "FieldValueRequired", "Required value"),
        ("spec.volumes[1].nfs.path", "FieldValueInvalid",
         'Invalid value: "": must be an absolute path')],
    "files": [
        ("spec.volumes[0].secret.secretName", "FieldValueRequired", "Required value"),
        ("spec.volumes[0].secret.defaultMode", "FieldValueInvalid", f"Invalid value: 1000: {MODE}"),
        ("spec.volumes[0].secret.items[0].key", "FieldValueRequired", "Required value"),
        ("spec.volumes[0].secret.items[0].path", "FieldValueInvalid",
         'Invalid value: "/etc/passwd": must be a relative path'),
        ("spec.volumes[0].secret.items[1].path", "FieldValueInvalid",
         "Invalid value: \"a/../b\": must not contain '..'"),
        ("spec.volumes[0].secret.items[2].path", "FieldValueInvalid",
         "Invalid value: \"..data\": must not start with '..'"),
        ("spec.volumes[0].secret.items[2].mode", "FieldValueInvalid", f"Invalid value: 512: {MODE}"),
        ("spec.volumes[1].configMap.name", "FieldValueRequired", "Required value"),
        ("spec.volumes[1].configMap.defaultMode", "FieldValueInvalid",
         f"Invalid value: -1: {MODE}")],
    "sizes": [
        ("spec.volumes[0].emptyDir.sizeLimit", "FieldValueForbidden",
         "Forbidden: SizeLimit field must be a valid resource quantity")],
    "two-types": [
        ("spec.volumes[0].hostPath", "FieldValueForbidden",
         "Forbidden: may not specify more than 1 volume type")],
    "names": [
        ("spec.volumes[1].name", "FieldValueDuplicate", 'Duplicate value: "data"'),
        ("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", 'Not found: "cache"'),
        ("spec.containers[0].volumeMounts[2].mountPath", "FieldValueInvalid",
         'Invalid value: "/d": must be unique')],
    # Kubernetes names the list, not the mount, for sub-paths and propagation.
    "mounts": [
        ("spec.containers[0].volumeMounts.subPath", "FieldValueInvalid",
         'Invalid value: "/abs": must be a relative path'),
        ("spec.containers[0].volumeMounts.subPath", "FieldValueInvalid",
         "Invalid value: \"x/../../y\": must not contain '..'"),
        ("spec.containers[0].volumeMounts[2].subPathExpr", "FieldValueInvalid",
         'Invalid value: "$(POD)": subPathExpr and subPath are mutually exclusive'),
        ("spec.containers[0].volumeMounts.subPathExpr", "FieldValueInvalid",
         'Invalid value: "/$(POD)": must be a relative path'),
        ("spec.containers[0].volumeMounts.mountPropagation", "FieldValueNotSupported",
         f'Unsupported value: "Shared": {PROPAGATIONS}'),
        ("spec.containers[0].volumeMounts.mountPropagation", "FieldValueForbidden",
         f"Forbidden: {BIDIRECTIONAL}")],
    "init": [
        ("spec.initContainers[0].volumeMounts[0].name", "FieldValueNotFound",
         'Not found: "gone"'),
        ("spec.initContainers[0].volumeMounts.mountPropagation", "FieldValueForbidden",
         f"Forbidden: {BIDIRECTIONAL}")],
}


def expected_message(name, causes):
    """What kube-apiserver writes: one error as it is, several in brackets."""
    errors = [f"{field}: {message}" for field, _, message in causes]
    joined = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return f'Pod "{name}" is invalid: {joined}'


@pytest.mark.parametrize("manifest", BAD_PODS, ids=[p["metadata"]["name"] for p in BAD_PODS])
def test_bad_volumes_refused(server, manifest):
    name = manifest["metadata"]["name"]
    before = server.snapshot()
    answer = server.api("POST", PODS, manifest)
    assert answer.status == 422, answer
    body = answer.json
    assert (body["kind"], body["status"], body["reason"], body["code"]) == \
        ("Status", "Failure", "Invalid", 422)
    assert body["details"]["name"] == name and body["details"]["kind"] == "Pod"
    causes = [(c["field"], c["reason"], c["message"]) for c in body["details"]["causes"]]
    assert causes == EXPECTED[name]
    assert body["message"] == expected_message(name, EXPECTED[name])
    assert server.snapshot() == before


def test_kubectl_shows_the_field_errors(server):
    out = server.kubectl("create", "-f", "-", input=json.dumps(BAD_PODS[0]), check=False)
    assert out.returncode == 1, out
    assert out.stderr.startswith('The Pod "host-type" is invalid: \n'), out.stderr
    lines = out.stderr.splitlines()
    assert f'* spec.volumes[0].hostPath.type: Unsupported value: "Dir": {HOST_PATH_TYPES}' \
        in lines, out.stderr
    assert '* spec.containers[0].volumeMounts[0].name: Not found: "data"' in lines, out.stderr
    # One error comes on one line.
    out = server.kubectl("apply", "-f", "-", input=json.dumps(BAD_PODS[4]), check=False)
    assert out.returncode == 1, out
    assert out.stderr.strip() == (
        'The Pod "sizes" is invalid: spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit '
        "field must be a valid resource quantity"), out.stderr
    out = server.kubectl("get", "pods", "-o", "name")
    assert out.stdout == ""


def test_python_client_gets_the_status(server):
    v1 = server.python_client()
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_pod("default", BAD_PODS[7])
    assert err.value.status == 422
    status = json.loads(err.value.body)
    assert status["reason"] == "Invalid"
    assert status["message"] == expected_message("mounts", EXPECTED["mounts"])
    assert [c["field"] for c in status["details"]["causes"]] == \
        [field for field, _, _ in EXPECTED["mounts"]]
    assert v1.list_namespaced_pod("default").items == []


GOOD = pod("every-kind", [
    {"name": "host", "hostPath": {"path": "/var/kube-test/mysql-db"}},
    {"name": "sock", "hostPath": {"path": "/run/app.sock", "type": "Socket"}},
    {"name": "scratch"},
    {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    {"name": "share", "nfs": {"server": "10.0.0.2", "path": "/exports", "readOnly": True}},
    {"name": "conf", "configMap": {"name": "app", "optional": True,
                                   "items": [{"key": "app.conf", "path": "etc/app.conf",
                                              "mode": 0o600}]}},
    {"name": "tls", "secret": {"secretName": "tls", "defaultMode": 0o400}},
    {"name": "creds", "secret": {"secretName": "creds", "optional": False}},
    {"name": "info", "downwardAPI": {"items": [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
    {"name": "all", "projected": {"sources": [{"configMap": {"name": "app"}}]}},
], [
    {"name": "host", "mountPath": "/var/lib/mysql"},
    {"name": "sock", "mountPath": "/run/app.sock", "readOnly": True},
    {"name": "scratch", "mountPath": "/tmp", "subPath": "main"},
    {"name": "cache", "mountPath": "/cache", "subPathExpr": "$(POD_NAME)"},
    {"name": "share", "mountPath": "/share", "mountPropagation": "HostToContainer"},
    {"name": "conf", "mountPath": "/etc/app", "readOnly": True},
    {"name": "tls", "mountPath": "/tls"},
    {"name": "creds", "mountPath": "/creds"},
    {"name": "info", "mountPath": "/info"},
    {"name": "all", "mountPath": "/all", "mountPropagation": "Bidirectional"},
], init_mounts=[{"name": "scratch", "mountPath": "/tmp", "subPath": "setup"}], privileged=True)


def test_every_volume_kind_accepted_with_defaults(server):
    out = server.kubectl("create", "-f", "-", input=json.dumps(GOOD))
    assert out.stdout.strip() == "pod/every-kind created"
    stored = json.loads(server.kubectl("get", "pod", "every-kind", "-o", "json").stdout)
    volumes = {v["name"]: v for v in stored["spec"]["volumes"]}
    assert volumes["host"]["hostPath"] == {"path": "/var/kube-test/mysql-db", "type": ""}
    assert volumes["sock"]["hostPath"] == {"path": "/run/app.sock", "type": "Socket"}
    # A volume without a source is an emptyDir, as the v1 defaults make it.
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert volumes["cache"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}
    assert volumes["share"]["nfs"] == {"server": "10.0.0.2", "path": "/exports",
                                       "readOnly": True}
    assert volumes["conf"]["configMap"]["defaultMode"] == 0o644
    assert volumes["conf"]["configMap"]["items"] == [
        {"key": "app.conf", "path": "etc/app.conf", "mode": 0o600}]
    assert volumes["tls"]["secret"] == {"secretName": "tls", "defaultMode": 0o400}
    assert volumes["creds"]["secret"]["defaultMode"] == 0o644
    assert volumes["info"]["downwardAPI"]["defaultMode"] == 0o644
    assert volumes["all"]["projected"]["defaultMode"] == 0o644
    assert stored["spec"]["containers"][0]["volumeMounts"] == GOOD["spec"]["containers"][0][
        "volumeMounts"]
    assert stored["spec"]["initContainers"][0]["volumeMounts"] == \
        [{"name": "scratch", "mountPath": "/tmp", "subPath": "setup"}]

    typed = server.python_client().read_namespaced_pod("every-kind", "default")
    by_name = {v.name: v for v in typed.spec.volumes}
    assert by_name["scratch"].empty_dir is not None
    assert by_name["creds"].secret.default_mode == 0o644
    assert by_name["host"].host_path.type == ""
    assert by_name["cache"].empty_dir.size_limit == "64Mi"
    mounts = {m.name: m for m in typed.spec.containers[0].volume_mounts}
    assert mounts["all"].mount_propagation == "Bidirectional"
    assert mounts["cache"].sub_path_expr == "$(POD_NAME)"


def test_volumes_stay_immutable_on_update(server):
    good = pod("upd", [{"name": "data", "hostPath": {"path": "/srv"}}],
               [{"name": "data", "mountPath": "/data"}])
    assert server.api("POST", PODS, good).status == 201
    stored = server.get_json(f"{PODS}/upd")["spec"]["volumes"]
    answer = server.api("PATCH", f"{PODS}/upd", {"spec": {"volumes": [
        {"name": "data", "hostPath": {"path": "/etc"}}]}}, headers=MERGE)
    assert answer.status == 422, answer
    assert [(c["field"], c["reason"]) for c in answer.json["details"]["causes"]] == \
        [("spec", "FieldValueForbidden")]
    assert "pod updates may not change fields other than" in answer.json["message"]
    # A change that is also invalid is validated as on create first.
    answer = server.api("PATCH", f"{PODS}/upd", {"spec": {"volumes": [
        {"name": "data", "hostPath": {"path": "/srv", "type": "Folder"}}]}}, headers=MERGE)
    assert answer.status == 422, answer
    assert [(c["field"], c["reason"]) for c in answer.json["details"]["causes"]] == [
        ("spec.volumes[0].hostPath.type", "FieldValueNotSupported"),
        ("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound"),
        ("spec", "FieldValueForbidden")]
    # The scheduler may write the pod's status meanwhile: compare what the updates touched.
    assert server.get_json(f"{PODS}/upd")["spec"]["volumes"] == stored
    # The image stays mutable.
    out = server.kubectl("set", "image", "pod/upd", "main=busybox:1.37")
    assert out.returncode == 0
    assert server.get_json(f"{PODS}/upd")["spec"]["containers"][0]["image"] == "busybox:1.37"
