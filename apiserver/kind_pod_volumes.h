/* A pod's volumes and its containers' volumeMounts: the defaults the v1 API gives them and the
 * checks kube-apiserver makes, with its field paths and messages (kind_pod_volumes.c). */
#pragma once

#include <jansson.h>

struct field_errors;

/* Defaults of one entry of spec.volumes: a volume without a source is an emptyDir, file modes
 * of projected files 0644, a hostPath's type "". */
void pod_volume_set_defaults(json_t *volume);

/* Checks spec.volumes and returns the volumes containers may mount, by name: those without
 * errors, as Kubernetes passes on only those (a mount of a refused volume is "Not found" too).
 * The caller owns the result. */
json_t *pod_volumes_validate(const json_t *volumes, struct field_errors *errors);

/* Checks the volumeMounts of one container (regular, init or ephemeral) at `container_path`
 * ("spec.initContainers[0]") against what pod_volumes_validate() returned. */
void pod_volume_mounts_validate(const json_t *container, const char *container_path,
				const json_t *mountable, struct field_errors *errors);
