"""Who may talk to the API: on 127.0.0.1 anyone on the machine (like the insecure port of old
API servers); on any other address only holders of the bearer token in <data-dir>/token.
The non-loopback cases run inside a network namespace the test makes and removes (fixture
`netns`); nothing outside loopback and that namespace is ever addressed."""
import json
import os
import stat

import pytest

from conftest import nsexec, pod_manifest

PODS = "/api/v1/namespaces/default/pods"


def test_loopback_needs_no_token(server):
    answer = server.api("GET", "/api/v1/namespaces")
    assert answer.status == 200
    created = server.api("POST", PODS, pod_manifest("p"))
    assert created.status == 201, created
    assert server.api("GET", "/version").status == 200


def test_token_and_kubeconfig_are_private(server):
    token_path = os.path.join(server.data_dir, "token")
    assert stat.S_IMODE(os.stat(token_path).st_mode) & 0o077 == 0
    assert stat.S_IMODE(os.stat(server.kubeconfig).st_mode) & 0o077 == 0
    token = server.token()
    assert len(token) >= 32
    with open(server.kubeconfig) as f:
        assert token in f.read()
    # The token is kept across restarts (agents hold it).
    server.restart()
    assert server.token() == token


def curl(ns, url, token=None, method="GET", body=None, extra=()):
    """curl from inside the test's namespace; returns (HTTP status, body)."""
    cmd = ["curl", "-k", "-s", "-m", "10", "-o", "-", "-w", "\n%{http_code}", "-X", method]
    if token is not None:
        cmd += ["-H", f"Authorization: {token}"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", body]
    cmd += [*extra, url]
    out = nsexec(ns, *cmd, check=True).stdout
    text, _, code = out.rpartition("\n")
    return int(code), text


def assert_unauthorized(code, text):
    assert code == 401, (code, text)
    body = json.loads(text)
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status", "Failure", "Unauthorized", 401)


@pytest.fixture
def remote(netns, server_factory):
    """A server listening on 10.213.0.1, inside the test's own network namespace."""
    server = server_factory(host="10.213.0.1", netns=netns)
    server.netns_name = netns
    return server


def test_non_loopback_needs_the_token(remote):
    ns = remote.netns_name
    token = remote.token()
    base = remote.kubeconfig_server()
    assert "://10.213.0.1:" in base
    for path in ("/api/v1/namespaces", "/api/v1/namespaces/default/pods", "/api", "/apis",
                 "/api/v1", "/version", "/openapi/v2", f"{PODS}?watch=true"):
        assert_unauthorized(*curl(ns, base + path))
        assert_unauthorized(*curl(ns, base + path, token="Bearer wrong"))
    for bad in (f"Bearer {token}x", f"Bearer {token[:-1]}", f"Basic {token}", token,
                f"Bearer  {token}", "Bearer "):
        assert_unauthorized(*curl(ns, base + "/api/v1/namespaces", token=bad))
    assert_unauthorized(*curl(ns, f"{base}/api/v1/namespaces?access_token={token}"))
    # Writes without the token change nothing.
    body = json.dumps(pod_manifest("intruder"))
    assert_unauthorized(*curl(ns, base + PODS, method="POST", body=body))
    assert_unauthorized(*curl(ns, base + "/api/v1/namespaces/default", method="DELETE"))
    code, text = curl(ns, base + PODS, token=f"Bearer {token}")
    assert code == 200 and json.loads(text)["items"] == []
    code, text = curl(ns, base + "/api/v1/namespaces/default", token=f"Bearer {token}")
    assert code == 200 and json.loads(text)["status"]["phase"] == "Active"
    # With the token everything works.
    code, text = curl(ns, base + PODS, token=f"bearer {token}", method="POST", body=body)
    assert code == 201, text


def test_non_loopback_with_the_python_client(remote):
    script = ("from kubernetes import client, config\n"
              f"api = client.CoreV1Api(config.new_client_from_config('{remote.kubeconfig}'))\n"
              "print(sorted(n.metadata.name for n in api.list_namespace().items))\n")
    out = nsexec(remote.netns_name, "/usr/bin/python3", "-c", script, check=True)
    assert out.stdout.strip() == "['default', 'kube-node-lease', 'kube-public', 'kube-system']"


def test_non_loopback_with_kubectl(remote, scratch):
    """kubectl reads a kubeconfig's credentials only for https servers (client-go's clientcmd:
    "only try to read the auth information if we are secure"), so off loopback the server
    must speak TLS for the real kubectl to work at all."""
    ns = remote.netns_name
    with open(remote.kubeconfig) as f:
        config = f.read()
    assert remote.kubeconfig_server().split("://")[1] == f"10.213.0.1:{remote.port}"
    anonymous = scratch / "anonymous.kubeconfig"
    anonymous.write_text("\n".join(line for line in config.splitlines()
                                   if "token:" not in line).replace("user:\n", "user: {}\n"))
    out = nsexec(ns, "kubectl", "--kubeconfig", str(anonymous), "--cache-dir",
                 str(scratch / "cache2"), "get", "pods")
    assert out.returncode == 1
    # Without credentials for an https server kubectl first asks for a username; with no
    # terminal to answer, it gives up. Either way nothing is listed.
    assert ("You must be logged in to the server" in out.stderr
            or "Please enter Username" in out.stdout), out
    out = nsexec(ns, "kubectl", "--kubeconfig", remote.kubeconfig, "--cache-dir",
                 str(scratch / "cache"), "get", "namespaces", "-o", "name", check=True)
    assert out.stdout.split() == ["namespace/default", "namespace/kube-node-lease",
                                  "namespace/kube-public", "namespace/kube-system"]


def test_wildcard_listen_needs_the_token_even_from_loopback(netns, server_factory):
    """0.0.0.0 reaches beyond loopback, so it needs the token on every address, 127.0.0.1
    included."""
    server = server_factory(host="0.0.0.0", netns=netns)
    token = server.token()
    scheme = server.kubeconfig_server().split("://")[0]
    for host in ("127.0.0.1", "10.213.0.1", "10.213.0.2"):
        url = f"{scheme}://{host}:{server.port}/api/v1/namespaces"
        assert_unauthorized(*curl(netns, url))
        code, _ = curl(netns, url, token=f"Bearer {token}")
        assert code == 200
    assert server.kubeconfig_server().split("://")[1] == f"127.0.0.1:{server.port}"


def test_loopback_listen_is_not_reachable_from_other_addresses(netns, server_factory):
    server = server_factory(host="127.0.0.1", netns=netns)
    code, _ = curl(netns, f"{server.kubeconfig_server()}/api/v1/namespaces")
    assert code == 200
    out = nsexec(netns, "curl", "-k", "-s", "-m", "3", "-o", "/dev/null", "-w",
                 "%{http_code}", f"{server.kubeconfig_server().replace('127.0.0.1', '10.213.0.1')}"
                 "/api/v1/namespaces")
    assert out.stdout == "000"  # connection refused: it listens on loopback only
