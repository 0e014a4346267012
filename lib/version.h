#pragma once

#define CKUBE_VERSION "0.1.0"
/* The Kubernetes version the API server reports. kubectl picks its protocol by the minor. */
#define CKUBE_KUBERNETES_MAJOR "1"
#define CKUBE_KUBERNETES_MINOR "32"
#define CKUBE_KUBERNETES_GIT_VERSION "v1.32.0"
