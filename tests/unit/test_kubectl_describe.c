/* describe pod|service|node formatted from sample objects; the pod case is the recorded output
 * of kubectl 1.32 for the same objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kubectl/describe.h"
#include "kubectl/timefmt.h"
#include "lib/cleanup.h"

static json_t *load(const char *text)
{
	json_error_t error;
	json_t *value = json_loads(text, 0, &error);
	if (!value)
		fail_msg("bad JSON in test: %s at %d", error.text, error.position);
	return value;
}

static time_t at(const char *rfc3339)
{
	time_t t;
	assert_int_equal(time_parse_rfc3339(rfc3339, &t), 0);
	return t;
}

static int utc(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static const char nginx_pod[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"labels\":{\"app\":\"nginx\"},"
    "\"name\":\"nginx\",\"namespace\":\"default\",\"uid\":\"cac260ea\",\"creationTimestamp\":"
    "\"2026-11-25T12:49:55Z\",\"resourceVersion\":\"174\"},\"spec\":{\"containers\":[{"
    "\"image\":\"nginx:1.25\",\"name\":\"nginx\",\"ports\":[{\"containerPort\":80,"
    "\"protocol\":\"TCP\"}],\"imagePullPolicy\":\"IfNotPresent\",\"resources\":{}}],"
    "\"restartPolicy\":\"Always\",\"nodeName\":\"node-1\"},\"status\":{\"phase\":"
    "\"Running\",\"hostIP\":\"192.0.2.10\",\"podIP\":\"10.244.0.173\",\"podIPs\":[{\"ip\":"
    "\"10.244.0.173\"}],\"startTime\":\"2026-11-25T12:49:56Z\",\"qosClass\":\"BestEffort\","
    "\"containerStatuses\":[{\"name\":\"nginx\",\"image\":\"nginx:1.25\",\"imageID\":\"\","
    "\"containerID\":\"fake://28748b5ae59e\",\"ready\":true,\"restartCount\":0,\"started\":"
    "true,\"state\":{\"running\":{\"startedAt\":\"2026-11-25T12:49:56Z\"}},\"lastState\":{}}]}}";

/* The kubelet's five conditions, all true since 12:49:56. */
static void add_conditions(json_t *pod)
{
	static const char *const types[] = {"PodReadyToStartContainers", "Initialized", "Ready",
					    "ContainersReady", "PodScheduled"};
	json_t *conditions = json_array();
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		json_array_append_new(conditions,
				      json_pack("{s:s, s:s, s:n, s:s}", "type", types[i], "status",
						"True", "lastProbeTime", "lastTransitionTime",
						"2026-11-25T12:49:56Z"));
	json_object_set_new(json_object_get(pod, "status"), "conditions", conditions);
}

static const char nginx_events[] =
    "{\"kind\":\"EventList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"181\"},"
    "\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":"
    "\"nginx.7490f188\",\"namespace\":\"default\"},\"involvedObject\":{\"kind\":\"Pod\","
    "\"namespace\":\"default\",\"name\":\"nginx\",\"uid\":\"cac260ea\",\"apiVersion\":\"v1\"},"
    "\"reason\":\"Scheduled\",\"message\":\"Successfully assigned default/nginx to node-1\","
    "\"type\":\"Normal\",\"source\":{\"component\":\"default-scheduler\"},\"firstTimestamp\":"
    "\"2026-11-25T12:49:56Z\",\"lastTimestamp\":\"2026-11-25T12:49:56Z\",\"count\":1,"
    "\"reportingComponent\":\"default-scheduler\",\"reportingInstance\":\"\"}]}";

static void running_pod_matches_kubectl(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod = load(nginx_pod);
	add_conditions(pod);
	_cleanup_json_ json_t *events = load(nginx_events);
	_cleanup_buf_ struct buf out = {0};
	describe_pod(pod, events, at("2026-11-25T12:50:04Z"), &out);
	assert_string_equal(out.data,
			    "Name:         nginx\n"
			    "Namespace:    default\n"
			    "Node:         node-1/192.0.2.10\n"
			    "Start Time:   Wed, 25 Nov 2026 12:49:56 +0000\n"
			    "Labels:       app=nginx\n"
			    "Annotations:  <none>\n"
			    "Status:       Running\n"
			    "IP:           10.244.0.173\n"
			    "IPs:\n"
			    "  IP:  10.244.0.173\n"
			    "Containers:\n"
			    "  nginx:\n"
			    "    Container ID:   fake://28748b5ae59e\n"
			    "    Image:          nginx:1.25\n"
			    "    Image ID:       \n"
			    "    Port:           80/TCP\n"
			    "    Host Port:      0/TCP\n"
			    "    State:          Running\n"
			    "      Started:      Wed, 25 Nov 2026 12:49:56 +0000\n"
			    "    Ready:          True\n"
			    "    Restart Count:  0\n"
			    "    Environment:    <none>\n"
			    "    Mounts:         <none>\n"
			    "Conditions:\n"
			    "  Type                        Status\n"
			    "  PodReadyToStartContainers   True \n"
			    "  Initialized                 True \n"
			    "  Ready                       True \n"
			    "  ContainersReady             True \n"
			    "  PodScheduled                True \n"
			    "Volumes:                      <none>\n"
			    "QoS Class:                    BestEffort\n"
			    "Node-Selectors:               <none>\n"
			    "Tolerations:                  <none>\n"
			    "Events:\n"
			    "  Type    Reason     Age   From               Message\n"
			    "  ----    ------     ----  ----               -------\n"
			    "  Normal  Scheduled  8s    default-scheduler  Successfully assigned "
			    "default/nginx to node-1\n");
}

/* A pending pod with volumes, env, mounts, a probe, and repeated events out of order. */
static void pending_pod_with_volumes_env_and_repeated_events(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod = load(
	    "{\"metadata\":{\"name\":\"app\",\"namespace\":\"team\",\"labels\":{\"b\":\"2\",\"a\":"
	    "\"1\"},\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\","
	    "\"note\":\"hi\"},\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"app-1\","
	    "\"controller\":true}]},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":"
	    "\"busybox\","
	    "\"command\":[\"sh\",\"-c\"],\"args\":[\"sleep 1\\nsleep "
	    "2\"],\"resources\":{\"limits\":{"
	    "\"memory\":\"64Mi\",\"cpu\":\"500m\"}},\"readinessProbe\":{\"httpGet\":{\"path\":"
	    "\"/healthz\",\"port\":8080,\"scheme\":\"HTTP\"},\"timeoutSeconds\":1,"
	    "\"periodSeconds\":10,\"successThreshold\":1,\"failureThreshold\":3},\"env\":[{"
	    "\"name\":"
	    "\"MODE\",\"value\":\"a\\nb\"},{\"name\":\"NODE\",\"valueFrom\":{\"fieldRef\":{"
	    "\"apiVersion\":\"v1\",\"fieldPath\":\"spec.nodeName\"}}},{\"name\":\"PW\","
	    "\"valueFrom\":{"
	    "\"secretKeyRef\":{\"name\":\"s\",\"key\":\"pw\"}}}],\"volumeMounts\":[{\"name\":"
	    "\"data\",\"mountPath\":\"/var/data\"},{\"name\":\"cfg\",\"mountPath\":\"/etc/app\","
	    "\"readOnly\":true,\"subPath\":\"app.conf\"}]}],\"volumes\":[{\"name\":\"data\","
	    "\"emptyDir\":{}},{\"name\":\"cfg\",\"configMap\":{\"name\":\"app-config\"}},{\"name\":"
	    "\"host\",\"hostPath\":{\"path\":\"/srv\",\"type\":\"Directory\"}}],\"tolerations\":[{"
	    "\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\",\"effect\":"
	    "\"NoExecute\",\"tolerationSeconds\":300},{\"operator\":\"Exists\"}],\"nodeSelector\":{"
	    "\"disk\":\"ssd\"}},\"status\":{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":"
	    "\"app\",\"image\":\"busybox\",\"imageID\":\"\",\"ready\":false,\"restartCount\":2,"
	    "\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}},\"lastState\":{"
	    "\"terminated\":"
	    "{\"exitCode\":1,\"reason\":\"Error\",\"startedAt\":\"2026-11-25T12:00:00Z\","
	    "\"finishedAt\":\"2026-11-25T12:00:01Z\"}}}]}}");
	_cleanup_json_ json_t *events = load(
	    "{\"items\":[{\"type\":\"Warning\",\"reason\":\"BackOff\",\"message\":\" Back-off "
	    "\\n\","
	    "\"source\":{\"component\":\"kubelet\"},\"firstTimestamp\":\"2026-11-25T12:00:00Z\","
	    "\"lastTimestamp\":\"2026-11-25T12:09:00Z\",\"count\":5},{\"type\":\"Normal\","
	    "\"reason\":"
	    "\"Pulled\",\"message\":\"ok\",\"reportingComponent\":\"kubelet\",\"firstTimestamp\":"
	    "\"2026-11-25T12:00:00Z\",\"lastTimestamp\":\"2026-11-25T12:00:00Z\",\"count\":1}]}");
	_cleanup_buf_ struct buf out = {0};
	describe_pod(pod, events, at("2026-11-25T12:10:00Z"), &out);
	assert_string_equal(
	    out.data,
	    "Name:           app\n"
	    "Namespace:      team\n"
	    "Node:           <none>\n"
	    "Labels:         a=1\n"
	    "                b=2\n"
	    "Annotations:    note: hi\n"
	    "Status:         Pending\n"
	    "IP:             \n"
	    "IPs:            <none>\n"
	    "Controlled By:  ReplicaSet/app-1\n"
	    "Containers:\n"
	    "  app:\n"
	    "    Container ID:  \n"
	    "    Image:         busybox\n"
	    "    Image ID:      \n"
	    "    Port:          <none>\n"
	    "    Host Port:     <none>\n"
	    "    Command:\n"
	    "      sh\n"
	    "      -c\n"
	    "    Args:\n"
	    "      sleep 1\n"
	    "      sleep 2\n"
	    "    State:          Waiting\n"
	    "      Reason:       CrashLoopBackOff\n"
	    "    Last State:     Terminated\n"
	    "      Reason:       Error\n"
	    "      Exit Code:    1\n"
	    "      Started:      Wed, 25 Nov 2026 12:00:00 +0000\n"
	    "      Finished:     Wed, 25 Nov 2026 12:00:01 +0000\n"
	    "    Ready:          False\n"
	    "    Restart Count:  2\n"
	    "    Limits:\n"
	    "      cpu:      500m\n"
	    "      memory:   64Mi\n"
	    "    Readiness:  http-get http://:8080/healthz delay=0s timeout=1s period=10s "
	    "#success=1 #failure=3\n"
	    "    Environment:\n"
	    "      MODE:  a\n"
	    "             b\n"
	    "      NODE:   (v1:spec.nodeName)\n"
	    "      PW:    <set to the key 'pw' in secret 's'>  Optional: false\n"
	    "    Mounts:\n"
	    "      /etc/app from cfg (ro,path=\"app.conf\")\n"
	    "      /var/data from data (rw)\n"
	    "Volumes:\n"
	    "  data:\n"
	    "    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)\n"
	    "    Medium:     \n"
	    "    SizeLimit:  <unset>\n"
	    "  cfg:\n"
	    "    Type:      ConfigMap (a volume populated by a ConfigMap)\n"
	    "    Name:      app-config\n"
	    "    Optional:  false\n"
	    "  host:\n"
	    "    Type:          HostPath (bare host directory volume)\n"
	    "    Path:          /srv\n"
	    "    HostPathType:  Directory\n"
	    "QoS Class:         Burstable\n"
	    "Node-Selectors:    disk=ssd\n"
	    "Tolerations:       op=Exists\n"
	    "                   node.kubernetes.io/unreachable:NoExecute op=Exists for 300s\n"
	    "Events:\n"
	    "  Type     Reason   Age                From     Message\n"
	    "  ----     ------   ----               ----     -------\n"
	    "  Normal   Pulled   10m                kubelet  ok\n"
	    "  Warning  BackOff  60s (x5 over 10m)  kubelet  Back-off\n");
}

static void service_with_endpoints(void **state)
{
	(void)state;
	_cleanup_json_ json_t *service = load(
	    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"ports\":[{"
	    "\"port\":8080,\"targetPort\":80,\"protocol\":\"TCP\"},{\"name\":\"metrics\",\"port\":"
	    "9090,\"targetPort\":\"prom\",\"protocol\":\"TCP\",\"nodePort\":30090}],\"selector\":{"
	    "\"app\":\"web\"},\"type\":\"NodePort\",\"sessionAffinity\":\"None\",\"clusterIP\":"
	    "\"10.96.0.12\",\"clusterIPs\":[\"10.96.0.12\"],\"ipFamilies\":[\"IPv4\"],"
	    "\"ipFamilyPolicy\":\"SingleStack\",\"externalTrafficPolicy\":\"Cluster\","
	    "\"internalTrafficPolicy\":\"Cluster\"}}");
	_cleanup_json_ json_t *endpoints =
	    load("{\"subsets\":[{\"addresses\":[{\"ip\":\"10.244.0.5\"},{\"ip\":\"10.244.0.6\"},{"
		 "\"ip\":\"10.244.0.7\"},{\"ip\":\"10.244.0.8\"}],\"ports\":[{\"port\":80,"
		 "\"protocol\":\"TCP\"},{\"name\":\"metrics\",\"port\":9100}]}]}");
	_cleanup_json_ json_t *events = load("{\"items\":[]}");
	_cleanup_buf_ struct buf out = {0};
	describe_service(service, NULL, endpoints, events, at("2026-11-25T12:10:00Z"), &out);
	assert_string_equal(
	    out.data, "Name:                     web\n"
		      "Namespace:                default\n"
		      "Labels:                   <none>\n"
		      "Annotations:              <none>\n"
		      "Selector:                 app=web\n"
		      "Type:                     NodePort\n"
		      "IP Family Policy:         SingleStack\n"
		      "IP Families:              IPv4\n"
		      "IP:                       10.96.0.12\n"
		      "IPs:                      10.96.0.12\n"
		      "Port:                     <unset>  8080/TCP\n"
		      "TargetPort:               80/TCP\n"
		      "Endpoints:                10.244.0.5:80,10.244.0.6:80,10.244.0.7:80 + 1 "
		      "more...\n"
		      "Port:                     metrics  9090/TCP\n"
		      "TargetPort:               prom/TCP\n"
		      "NodePort:                 metrics  30090/TCP\n"
		      "Endpoints:                10.244.0.5:9100,10.244.0.6:9100,10.244.0.7:9100 "
		      "+ 1 more...\n"
		      "Session Affinity:         None\n"
		      "External Traffic Policy:  Cluster\n"
		      "Internal Traffic Policy:  Cluster\n"
		      "Events:                   <none>\n");

	/* EndpointSlices take precedence, and not-ready endpoints are left out */
	_cleanup_json_ json_t *slices = load(
	    "{\"items\":[{\"ports\":[{\"name\":\"\",\"port\":80}],\"endpoints\":[{\"addresses\":["
	    "\"10.244.0.9\"],\"conditions\":{\"ready\":true}},{\"addresses\":[\"10.244.0.10\"],"
	    "\"conditions\":{\"ready\":false}}]}]}");
	_cleanup_json_ json_t *single =
	    load("{\"metadata\":{\"name\":\"s\",\"namespace\":\"default\"},\"spec\":{\"ports\":[{"
		 "\"port\":80,\"targetPort\":80,\"protocol\":\"TCP\"}],\"type\":\"ClusterIP\","
		 "\"sessionAffinity\":\"None\",\"clusterIP\":\"None\"}}");
	_cleanup_buf_ struct buf second = {0};
	describe_service(single, slices, NULL, NULL, at("2026-11-25T12:10:00Z"), &second);
	assert_string_equal(second.data, "Name:              s\n"
					 "Namespace:         default\n"
					 "Labels:            <none>\n"
					 "Annotations:       <none>\n"
					 "Selector:          <none>\n"
					 "Type:              ClusterIP\n"
					 "IP Families:       <none>\n"
					 "IP:                None\n"
					 "IPs:               <none>\n"
					 "Port:              <unset>  80/TCP\n"
					 "TargetPort:        80/TCP\n"
					 "Endpoints:         10.244.0.9:80\n"
					 "Session Affinity:  None\n");
}

static void node_with_pods_and_lease(void **state)
{
	(void)state;
	_cleanup_json_ json_t *node = load(
	    "{\"metadata\":{\"name\":\"node-1\",\"creationTimestamp\":\"2026-11-25T12:00:00Z\","
	    "\"labels\":{\"kubernetes.io/hostname\":\"node-1\","
	    "\"node-role.kubernetes.io/control-plane\":\"\"}},\"spec\":{\"podCIDR\":"
	    "\"10.244.0.0/24\",\"podCIDRs\":[\"10.244.0.0/24\"],\"taints\":[{\"key\":\"b\","
	    "\"effect\":\"NoSchedule\"},{\"key\":\"a\",\"value\":\"x\",\"effect\":\"NoSchedule\"}]}"
	    ","
	    "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
	    "\"lastHeartbeatTime\":\"2026-11-25T12:09:50Z\",\"lastTransitionTime\":"
	    "\"2026-11-25T12:00:05Z\",\"reason\":\"KubeletReady\",\"message\":\"kubelet is "
	    "ready\"}],"
	    "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.0.2.10\"},{\"type\":"
	    "\"Hostname\",\"address\":\"node-1\"}],\"capacity\":{\"cpu\":\"2\",\"memory\":"
	    "\"4Gi\",\"pods\":\"110\"},\"allocatable\":{\"cpu\":\"2\",\"memory\":\"4Gi\",\"pods\":"
	    "\"110\"},\"nodeInfo\":{\"machineID\":\"m\",\"systemUUID\":\"s\",\"bootID\":\"b\","
	    "\"kernelVersion\":\"6.1.0\",\"osImage\":\"Debian GNU/Linux 12 (bookworm)\","
	    "\"operatingSystem\":\"linux\",\"architecture\":\"amd64\",\"containerRuntimeVersion\":"
	    "\"ckube://0.1.0\",\"kubeletVersion\":\"v1.32.0\",\"kubeProxyVersion\":\"v1.32.0\"}}}");
	_cleanup_json_ json_t *pods =
	    load("{\"items\":[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
		 "\"creationTimestamp\":\"2026-11-25T12:05:00Z\"},\"spec\":{\"containers\":[{"
		 "\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"512Mi\"},\"limits\":{"
		 "\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]}}]}");
	_cleanup_json_ json_t *lease =
	    load("{\"spec\":{\"holderIdentity\":\"node-1\",\"renewTime\":"
		 "\"2026-11-25T12:09:58.123456Z\"}}");
	_cleanup_buf_ struct buf out = {0};
	describe_node(node, pods, lease, NULL, NULL, at("2026-11-25T12:10:00Z"), &out);
	assert_string_equal(
	    out.data,
	    "Name:               node-1\n"
	    "Roles:              control-plane\n"
	    "Labels:             kubernetes.io/hostname=node-1\n"
	    "                    node-role.kubernetes.io/control-plane=\n"
	    "Annotations:        <none>\n"
	    "CreationTimestamp:  Wed, 25 Nov 2026 12:00:00 +0000\n"
	    "Taints:             a=x:NoSchedule\n"
	    "                    b:NoSchedule\n"
	    "Unschedulable:      false\n"
	    "Lease:\n"
	    "  HolderIdentity:  node-1\n"
	    "  AcquireTime:     <unset>\n"
	    "  RenewTime:       Wed, 25 Nov 2026 12:09:58 +0000\n"
	    "Conditions:\n"
	    "  Type    Status  LastHeartbeatTime                 LastTransitionTime                "
	    "Reason         Message\n"
	    "  ----    ------  -----------------                 ------------------                "
	    "------         -------\n"
	    "  Ready   True    Wed, 25 Nov 2026 12:09:50 +0000   Wed, 25 Nov 2026 12:00:05 +0000   "
	    "KubeletReady   kubelet is ready\n"
	    "Addresses:\n"
	    "  InternalIP:  192.0.2.10\n"
	    "  Hostname:    node-1\n"
	    "Capacity:\n"
	    "  cpu:     2\n"
	    "  memory:  4Gi\n"
	    "  pods:    110\n"
	    "Allocatable:\n"
	    "  cpu:     2\n"
	    "  memory:  4Gi\n"
	    "  pods:    110\n"
	    "System Info:\n"
	    "  Machine ID:                 m\n"
	    "  System UUID:                s\n"
	    "  Boot ID:                    b\n"
	    "  Kernel Version:             6.1.0\n"
	    "  OS Image:                   Debian GNU/Linux 12 (bookworm)\n"
	    "  Operating System:           linux\n"
	    "  Architecture:               amd64\n"
	    "  Container Runtime Version:  ckube://0.1.0\n"
	    "  Kubelet Version:            v1.32.0\n"
	    "  Kube-Proxy Version:         v1.32.0\n"
	    "PodCIDR:                      10.244.0.0/24\n"
	    "PodCIDRs:                     10.244.0.0/24\n"
	    "Non-terminated Pods:          (1 in total)\n"
	    "  Namespace                   Name    CPU Requests  CPU Limits  Memory Requests  "
	    "Memory "
	    "Limits  Age\n"
	    "  ---------                   ----    ------------  ----------  ---------------  "
	    "-------------  ---\n"
	    "  default                     web     500m (25%)    1 (50%)     512Mi (12%)      1Gi "
	    "(25%)      5m\n"
	    "Allocated resources:\n"
	    "  (Total limits may be over 100 percent, i.e., overcommitted.)\n"
	    "  Resource           Requests     Limits\n"
	    "  --------           --------     ------\n"
	    "  cpu                500m (25%)   1 (50%)\n"
	    "  memory             512Mi (12%)  1Gi (25%)\n"
	    "  ephemeral-storage  0 (0%)       0 (0%)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(running_pod_matches_kubectl),
	    cmocka_unit_test(pending_pod_with_volumes_env_and_repeated_events),
	    cmocka_unit_test(service_with_endpoints),
	    cmocka_unit_test(node_with_pods_and_lease),
	};
	return cmocka_run_group_tests(tests, utc, NULL);
}
