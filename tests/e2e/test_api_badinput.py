"""Hostile and broken requests: each gets a 4xx answer with a Status body, changes nothing
in the store (same objects, same revision) and leaves the server serving."""
import json
import os
import random
import socket

import pytest

from conftest import pod_manifest

PODS = "/api/v1/namespaces/default/pods"
LIMIT = 3 * 1024 * 1024  # the request body limit, as in Kubernetes


def pod_json(**changes):
    body = pod_manifest("p")
    body.update(changes)
    return json.dumps(body)


def deep(levels):
    return "[" * levels + "]" * levels


def garbage(size, seed):
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(size))


WRONG_TYPE = pod_manifest("p")
WRONG_TYPE["spec"]["containers"][0]["ports"] = [{"containerPort": "80"}]
NAME_AS_NUMBER = pod_manifest("p")
NAME_AS_NUMBER["metadata"]["name"] = 12
LABELS_AS_LIST = pod_manifest("p")
LABELS_AS_LIST["metadata"]["labels"] = ["a", "b"]
CONTAINERS_AS_MAP = pod_manifest("p")
CONTAINERS_AS_MAP["spec"]["containers"] = {"name": "main", "image": "x"}
HUGE_PORT = pod_manifest("p")
HUGE_PORT["spec"]["containers"][0]["ports"] = [{"containerPort": 10 ** 30}]
OTHER_NAMESPACE = pod_manifest("p", namespace="kube-system")
BIG_ANNOTATION = pod_manifest("p")
BIG_ANNOTATION["metadata"]["annotations"] = {"a": "x" * (LIMIT + 1)}

# (id, method, path, body, content type, expected HTTP status(es))
CASES = [
    ("malformed-json", "POST", PODS, '{"apiVersion": "v1", "kind": "Pod", "metadata": {',
     "application/json", [400]),
    ("trailing-garbage", "POST", PODS, pod_json() + "}}}", "application/json", [400]),
    ("json-array", "POST", PODS, json.dumps([pod_manifest("p")]), "application/json", [400]),
    ("json-null", "POST", PODS, "null", "application/json", [400]),
    ("json-string", "POST", PODS, '"pod"', "application/json", [400]),
    ("empty-body", "POST", PODS, "", "application/json", [400]),
    ("port-as-string", "POST", PODS, json.dumps(WRONG_TYPE), "application/json", [400]),
    ("name-as-number", "POST", PODS, json.dumps(NAME_AS_NUMBER), "application/json", [400]),
    ("labels-as-list", "POST", PODS, json.dumps(LABELS_AS_LIST), "application/json", [400]),
    ("containers-as-map", "POST", PODS, json.dumps(CONTAINERS_AS_MAP), "application/json",
     [400]),
    ("port-out-of-int32", "POST", PODS, json.dumps(HUGE_PORT), "application/json", [400, 422]),
    ("unknown-kind", "POST", PODS, pod_json(kind="Banana"), "application/json", [400]),
    ("other-kind", "POST", PODS, pod_json(kind="Service"), "application/json", [400]),
    ("unknown-api-version", "POST", PODS, pod_json(apiVersion="v9"), "application/json", [400]),
    ("group-api-version", "POST", PODS, pod_json(apiVersion="apps/v1"), "application/json",
     [400]),
    ("namespace-mismatch", "POST", PODS, json.dumps(OTHER_NAMESPACE), "application/json",
     [400]),
    ("over-size-limit", "POST", PODS, json.dumps(BIG_ANNOTATION), "application/json", [413]),
    ("text-plain", "POST", PODS, pod_json(), "text/plain", [415]),
    ("form-encoded", "POST", PODS, "a=b", "application/x-www-form-urlencoded", [415]),
    ("protobuf-garbage", "POST", PODS, garbage(64, 1), "application/vnd.kubernetes.protobuf",
     [400, 415]),
    ("deep-nesting", "POST", PODS,
     '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep"},"spec":{"x":' + deep(200000)
     + "}}", "application/json", [400]),
    ("deep-nesting-objects", "POST", PODS, '{"a":' * 100000 + "1" + "}" * 100000,
     "application/json", [400]),
    ("huge-name", "POST", PODS, json.dumps(pod_manifest("a" * 100000)), "application/json",
     [400, 422]),
    ("name-with-slash", "POST", PODS, json.dumps(pod_manifest("a/b")), "application/json",
     [422]),
    ("name-with-nul", "POST", PODS, json.dumps(pod_manifest("a\u0000b")), "application/json",
     [400, 422]),
    ("binary-garbage", "POST", PODS, garbage(4096, 2), "application/json", [400]),
    ("invalid-utf8", "POST", PODS,
     b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\xff\xfe"}}', "application/json",
     [400, 422]),
    ("yaml-garbage", "POST", PODS, b"a: [b\n  c: {\n\t- ]", "application/yaml", [400]),
    ("yaml-alias-bomb", "POST", PODS,
     "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
     "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
     "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
     "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n",
     "application/yaml", [400]),
    ("bad-label-selector", "GET", PODS + "?labelSelector=app%3D%3D%3Dx", None, None, [400]),
    ("bad-label-selector-set", "GET", PODS + "?labelSelector=app+in+(a", None, None, [400]),
    ("unsupported-field-selector", "GET", PODS + "?fieldSelector=spec.bogus%3D1", None, None,
     [400]),
    ("bad-field-selector", "GET", PODS + "?fieldSelector=metadata.name", None, None, [400]),
    ("bad-watch-version", "GET", PODS + "?watch=true&resourceVersion=abc", None, None, [400]),
    ("bad-limit", "GET", PODS + "?limit=-5&continue=%00%01", None, None, [400]),
    ("bad-continue", "GET", PODS + "?limit=1&continue=garbage!!", None, None, [400, 410]),
    ("json-patch-not-a-list", "PATCH", PODS + "/existing", '{"op":"add"}',
     "application/json-patch+json", [400, 422]),
    ("json-patch-bad-path", "PATCH", PODS + "/existing",
     '[{"op":"replace","path":"/nope/deeper","value":1}]', "application/json-patch+json",
     [400, 422]),
    ("merge-patch-garbage", "PATCH", PODS + "/existing", "{{{", "application/merge-patch+json",
     [400]),
    ("patch-unknown-type", "PATCH", PODS + "/existing", "{}", "application/x-unknown", [415]),
    ("put-name-mismatch", "PUT", PODS + "/existing", json.dumps(pod_manifest("other")),
     "application/json", [400]),
    ("delete-options-garbage", "DELETE", PODS + "/existing", "{not json",
     "application/json", [400]),
    ("delete-grace-as-string", "DELETE", PODS + "/existing",
     '{"gracePeriodSeconds":"soon"}', "application/json", [400]),
]


@pytest.fixture
def loaded(server):
    """A server with one pod named "existing" for the PATCH/PUT/DELETE cases."""
    answer = server.api("POST", PODS, pod_manifest("existing", nodeName="elsewhere"))
    assert answer.status == 201, answer
    return server


def assert_status_body(answer, code):
    body = answer.json
    assert body["kind"] == "Status", body
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == code
    assert body["message"]
    assert body["reason"]


def assert_still_serving(server):
    assert server.api("GET", "/readyz").status == 200
    listed = server.api("GET", PODS)
    assert listed.status == 200 and listed.json["kind"] == "PodList"
    probe = server.api("POST", PODS, pod_manifest("probe", nodeName="elsewhere"))
    assert probe.status == 201, probe


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_changes_nothing(loaded, case):
    server = loaded
    _, method, path, body, content_type, statuses = case
    before = server.snapshot()
    headers = {"Content-Type": content_type} if content_type else {}
    answer = server.api(method, path, body=body, headers=headers)
    assert answer.status in statuses, answer
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    assert_status_body(answer, answer.status)
    assert server.snapshot() == before
    assert_still_serving(server)


def test_error_reasons(loaded):
    """The reason names clients switch on."""
    server = loaded
    cases = [("POST", PODS, "{", "application/json", 400, "BadRequest"),
             ("POST", PODS, "x" * (LIMIT + 10), "application/json", 413,
              "RequestEntityTooLarge"),
             ("POST", PODS, pod_json(), "text/plain", 415, "UnsupportedMediaType"),
             ("GET", PODS + "?labelSelector=%3D%3D", None, None, 400, "BadRequest"),
             ("GET", "/api/v1/namespaces/default/widgets", None, None, 404, "NotFound"),
             ("POST", "/api/v1/namespaces/default/pods/existing", pod_json(),
              "application/json", 405, "MethodNotAllowed")]
    for method, path, body, content_type, code, reason in cases:
        headers = {"Content-Type": content_type} if content_type else {}
        answer = server.api(method, path, body=body, headers=headers)
        assert (answer.status, answer.json["reason"]) == (code, reason), (method, path, answer)


def test_yaml_body_is_accepted(server):
    answer = server.api("POST", PODS, body="""
apiVersion: v1
kind: Pod
metadata:
  name: from-yaml
spec:
  containers:
  - name: main
    image: busybox:1.36
""", headers={"Content-Type": "application/yaml"})
    assert answer.status == 201, answer
    assert answer.json["metadata"]["name"] == "from-yaml"


def test_size_limit_applies_to_chunked_bodies(loaded):
    """A body without Content-Length (chunked) is cut at the same limit."""
    server = loaded
    before = server.snapshot()
    conn = socket.create_connection((server.host, server.port), timeout=30)
    try:
        conn.sendall(f"POST {PODS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent <= LIMIT + len(chunk):
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            conn.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once the limit is passed
        reply = b""
        while b"\r\n\r\n" not in reply:
            data = conn.recv(65536)
            if not data:
                break
            reply += data
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    finally:
        conn.close()
    assert server.snapshot() == before
    assert_still_serving(server)


@pytest.mark.parametrize("raw", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + garbage(500, 3),  # a TLS hello
    garbage(2000, 4),
    b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/namespaces/default/pods HTTP/1.1\r\n" + b"X-Big: " + b"h" * 200000 +
    b"\r\n\r\n",
    b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
    b"Content-Type: application/json\r\n\r\n{\"a\":",  # a body that never arrives in full
], ids=["tls-hello", "garbage", "huge-request-line", "huge-header", "short-body"])
def test_raw_garbage_on_the_socket(loaded, raw):
    server = loaded
    before = server.snapshot()
    conn = socket.create_connection((server.host, server.port), timeout=5)
    try:
        try:
            conn.sendall(raw)
            conn.shutdown(socket.SHUT_WR)
            reply = conn.recv(4096)
        except OSError:  # reset, broken pipe, timeout: the server may just hang up
            reply = b""
        if reply:
            status = int(reply.split(b" ", 2)[1])
            assert 400 <= status < 500, reply[:200]
    finally:
        conn.close()
    assert server.snapshot() == before
    assert_still_serving(server)


def test_huge_name_in_the_url(loaded):
    """Names far over the 253-character limit in the path: not found, or invalid when a body
    would store them. (Request lines beyond what the server reads at all are in
    test_raw_garbage_on_the_socket.)"""
    server = loaded
    before = server.snapshot()
    name = "a" * 30000
    for method, code in (("GET", 404), ("DELETE", 404), ("PUT", 404)):
        answer = server.api(method, f"{PODS}/{name}",
                            body=json.dumps(pod_manifest(name)) if method == "PUT" else None)
        assert answer.status in (code, 400, 422), (method, answer)
        assert_status_body(answer, answer.status)
    assert server.snapshot() == before
    assert_still_serving(server)


def test_many_bad_requests_in_a_row(loaded):
    """A burst of every bad case, twice over, on kept-alive connections."""
    server = loaded
    before = server.snapshot()
    for _ in range(2):
        for _, method, path, body, content_type, statuses in CASES:
            if body is not None and len(body) > 100000:
                continue
            headers = {"Content-Type": content_type} if content_type else {}
            assert server.api(method, path, body=body, headers=headers).status in statuses
    assert server.snapshot() == before
    assert_still_serving(server)
    assert os.path.exists(server.kubeconfig)
