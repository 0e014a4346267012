/* `ckube server`: the API server, and this node's agent beside it. The two meet only here
 * (apiserver/ never includes node code), and the agent reaches the API over HTTP like any
 * other node's. */
#include <stdlib.h>
#include <string.h>

#include "apiserver/server_roles.h"
#include "cmd/commands.h"
#include "kubelet/agent.h"

static int start_agent(const struct server_node_launch *launch, void **handle, struct ck_error *err)
{
	struct agent_config config = {
	    .api = {.server = launch->url,
		    .bearer_token = launch->token,
		    .ca_pem = launch->ca_pem,
		    .ca_pem_len = launch->ca_pem ? strlen(launch->ca_pem) : 0,
		    .user_agent = "ckube-agent"},
	    .node_name = launch->node_name,
	    .node_ip = launch->node_ip,
	    .dirs = {.data_dir = launch->data_dir,
		     .run_dir = launch->run_dir,
		     .config_dir = launch->config_dir,
		     .cgroup_root = launch->cgroup_root},
	    .log_dir = launch->log_dir,
	    .node_port = launch->node_port,
	    .network.cluster_cidr = launch->cluster_cidr,
	    .network.service_cidr = launch->service_cidr,
	};
	struct agent *agent;
	int r = agent_start(&config, &agent, err);

	if (r == 0)
		*handle = agent;
	return r;
}

static void stop_agent(void *handle)
{
	agent_stop(handle);
}

int server_main(int argc, char **argv)
{
	static const struct server_node_role agent_role = {start_agent, stop_agent};

	return server_run(argc, argv, &agent_role);
}
