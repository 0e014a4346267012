/* Label selectors as Kubernetes reads them (k8s.io/apimachinery pkg/labels): the text form of
 * ?labelSelector= and `kubectl -l`, the metav1.LabelSelector object of Deployments and
 * ReplicaSets, and the plain map of a Service's spec.selector. Errors carry Kubernetes' text,
 * e.g. "unable to parse requirement: found '', expected: identifier". */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "error.h"

struct label_selector;

/* "a=b", "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a", "!a", "a>3", "a<3", joined by ','
 * (AND); whitespace between tokens is ignored. "" selects everything. Keys must be qualified
 * names and values label values. Returns 0 or -EINVAL. */
int label_selector_parse(const char *text, struct label_selector **out, struct ck_error *err);

/* metav1.LabelSelector: {"matchLabels": {k: v}, "matchExpressions": [{"key", "operator":
 * In|NotIn|Exists|DoesNotExist, "values"}]}. NULL (or JSON null) selects nothing, an object with
 * neither part selects everything. Returns 0 or -EINVAL. */
int label_selector_from_json(const json_t *selector, struct label_selector **out,
			     struct ck_error *err);

/* A Service's spec.selector: every key=value must match. NULL or an empty map selects nothing:
 * a Service without a selector gets no endpoints. Returns 0 or -EINVAL. */
int label_selector_from_map(const json_t *map, struct label_selector **out, struct ck_error *err);

/* `labels` is an object of strings, or NULL for an object without labels. */
bool label_selector_matches(const struct label_selector *sel, const json_t *labels);
bool label_selector_selects_everything(const struct label_selector *sel);

/* Kubernetes' canonical text: requirements sorted by key, set values sorted
 * ("app=web,tier in (back,front)"). Selectors that select everything or nothing give "".
 * The caller frees the result. */
char *label_selector_format(const struct label_selector *sel);

void label_selector_free(struct label_selector *sel);
