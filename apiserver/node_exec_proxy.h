/* pods/exec and pods/attach, served by the pod's node as kube-apiserver has the kubelet serve
 * them: GET (kubectl 1.30+, the Python client) or POST (SPDY clients), with the options as
 * query parameters (command, container, stdin, stdout, stderr, tty).
 *
 * The container is checked and defaulted as for logs (node_target.h), the pod must have a node,
 * then the node's agent is asked (node_dial.h) before the client gets any answer, so that every
 * refusal is still an HTTP answer: the API's own as Status objects, the agent's passed through
 * with its code and text as kube-apiserver passes the kubelet's (kubectl then prints "unable
 * to upgrade connection: container not found (\"c\")"). A client's WebSocket upgrade is checked
 * here (v5.channel.k8s.io or v4.channel.k8s.io) and the agent is offered only the chosen
 * subprotocol; once both have switched, the bytes are relayed unchanged both ways.
 *
 * Relaying the frames unchanged is sound because this server is the WebSocket server to its
 * client and the WebSocket client to the agent: the client's frames arrive masked, as the
 * agent requires of a client's; the agent's arrive unmasked, as the client requires of a
 * server's. Both hops speak the same subprotocol without extensions, so pings, pongs and the
 * close handshake pass end to end too. A client that did not ask for WebSocket (SPDY) gets
 * the agent's plain answer, which refuses it after the same checks. */
#pragma once

struct api_call;

/* Answers `call`, a request on the exec or attach subresource of a pod. */
void node_exec_proxy(struct api_call *call);
