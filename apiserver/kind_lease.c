/* Leases (coordination.k8s.io/v1): node heartbeats in kube-node-lease, leader election. */
#include "apiserver/kinds.h"
#include "lib/json_util.h"

static const struct table_column lease_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Holder", "string", "", "Name of the Lease holder", 0},
    {"Age", "string", "", "CreationTimestamp", 0},
};

static void lease_table_cells(const json_t *lease, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(lease, "metadata.name"), "");
	kind_cell_string(cells, json_path_string(lease, "spec.holderIdentity"), "");
	char age[32];
	kind_age(lease, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
}

const struct kind_strategy lease_strategy = {
    .columns = lease_columns,
    .column_count = sizeof(lease_columns) / sizeof(lease_columns[0]),
    .table_cells = lease_table_cells,
};
