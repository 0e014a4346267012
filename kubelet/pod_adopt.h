/* What an earlier agent left on the node, taken over by this one. A `kill -9` of the agent
 * stops nothing: containers run on (their state files and FIFOs are under the run directory),
 * and each sandbox keeps its pinned namespaces, cgroup and a copy of its Pod
 * (<run-dir>/pods/<uid>/pod.json). A new agent loads all of it before its first list of the
 * API's pods, hands each pod back what it had when the pod reappears, and, after that first
 * list, gives it back as pods to remove for those the API no longer has (deleted while no
 * agent ran). Internal to kubelet/; loop thread only. */
#pragma once

#include <jansson.h>

#include "kubelet/pod.h"
#include "kubelet/pods.h"

struct adoption;

int adoption_load(const struct agent_context *context, struct adoption **out, struct ck_error *err);
/* Lets go of what was never claimed (it keeps running). */
void adoption_free(struct adoption *adoption);

/* A pod new to the table: its containers' restart counts and states as the API last showed
 * them (so completed init containers do not run again and counts go on), then its running
 * containers, watched again, with their output pumped to the same log files. */
void adoption_claim(struct adoption *adoption, struct pod *pod);

/* The Pods (as last written by the sandbox) of sandboxes no pod has claimed: the API no longer
 * has them. A new array; each is claimed by the caller through a pod marked removed. Runs
 * without a sandbox (a start that crashed with the agent) are killed and removed here. */
json_t *adoption_orphans(struct adoption *adoption);
