/* Pod subresources that only the pod's node can answer, served by asking that node's agent
 * (kubelet/node_server.h) over HTTP with the join token as the bearer token, as kube-apiserver
 * asks the kubelet on port 10250. The node is found from the pod's spec.nodeName: its Node's
 * status.addresses (InternalIP, else the first) and status.daemonEndpoints.kubeletEndpoint.Port.
 *
 * Today this is the log subresource: GET .../pods/NAME/log with container, follow, previous,
 * timestamps, tailLines, sinceSeconds, sinceTime and limitBytes. The container is checked and
 * defaulted as kube-apiserver does (the only container; else "a container name must be
 * specified for pod p, choose one of: [a b]"; "container c is not valid for pod p"), the
 * options are validated, and the agent's answer is streamed back as text/plain while it
 * arrives, so that `kubectl logs -f` follows. The agent's errors become Status objects with its
 * message; a client going away ends the request to the agent too. */
#pragma once

struct api_call;

/* Answers `call`, a GET of the log subresource of a pod. */
void node_proxy_pod_log(struct api_call *call);
