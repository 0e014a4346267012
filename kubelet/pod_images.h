/* The image of a pod's container: found in the store, or pulled by the image puller per
 * imagePullPolicy (one pull per image however many containers wait for it), with the kubelet's
 * reasons, events and back-off (ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
 * InvalidImageName). Internal to kubelet/; loop thread only. */
#pragma once

#include <stdbool.h>

#include "kubelet/pod.h"

/* True when the image is there (c->image); otherwise a pull is on its way or backing off, and
 * the container's waiting state says so. */
bool pod_image_ready(struct pod_container *c);
