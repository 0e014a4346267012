/* Endpoints: written by the endpoints controller (and by users for Services without a
 * selector); listed by the proxy. */
#include <stdio.h>

#include "apiserver/kinds.h"
#include "apiserver/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/validation.h"

/* `kubectl get endpoints` shows at most this many addresses, then "+ N more...". */
#define SHOWN_ENDPOINTS 3

static void endpoints_validate(const json_t *ep, struct field_errors *errors)
{
	size_t s;
	json_t *subset;
	json_array_foreach (json_object_get(ep, "subsets"), s, subset) {
		static const char *const lists[] = {"addresses", "notReadyAddresses"};
		for (size_t l = 0; l < 2; l++) {
			size_t a;
			json_t *address;
			json_array_foreach (json_object_get(subset, lists[l]), a, address) {
				char field[96];
				snprintf(field, sizeof(field), "subsets[%zu].%s[%zu].ip", s,
					 lists[l], a);
				const char *ip = json_string_value(json_object_get(address, "ip"));
				struct validation_messages why = {0};
				if (!ip || !*ip)
					field_error_required(errors, field, NULL);
				else if (!validate_ip_address(ip, &why))
					field_error_invalid_messages(errors, field, ip, &why);
			}
		}
		size_t p;
		json_t *port;
		json_array_foreach (json_object_get(subset, "ports"), p, port) {
			char field[96];
			snprintf(field, sizeof(field), "subsets[%zu].ports[%zu].port", s, p);
			json_t *number = json_object_get(port, "port");
			struct validation_messages why = {0};
			if (!number)
				field_error_required(errors, field, NULL);
			else if (!validate_port_number(json_integer_value(number), &why))
				field_error_invalid(errors, field, number, why.text[0]);
		}
	}
}

static void endpoints_set_defaults(json_t *ep)
{
	size_t s;
	json_t *subset;
	json_array_foreach (json_object_get(ep, "subsets"), s, subset) {
		size_t p;
		json_t *port;
		json_array_foreach (json_object_get(subset, "ports"), p, port)
			if (json_is_object(port))
				kind_default_string(port, "protocol", "TCP");
	}
}

static const struct table_column endpoints_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Endpoints", "string", "", "Endpoints of the service", 0},
    {"Age", "string", "", "CreationTimestamp", 0},
};

static void endpoints_table_cells(const json_t *ep, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(ep, "metadata.name"), "");
	_cleanup_buf_ struct buf text = {0};
	size_t shown = 0, total = 0;
	size_t s;
	json_t *subset;
	json_array_foreach (json_object_get(ep, "subsets"), s, subset) {
		const json_t *ports = json_object_get(subset, "ports");
		size_t a;
		json_t *address;
		json_array_foreach (json_object_get(subset, "addresses"), a, address) {
			const char *ip = json_string_value(json_object_get(address, "ip"));
			size_t count = json_array_size(ports) ? json_array_size(ports) : 1;
			for (size_t p = 0; p < count; p++, total++) {
				if (shown == SHOWN_ENDPOINTS)
					continue;
				json_t *port = json_object_get(json_array_get(ports, p), "port");
				if (port)
					buf_printf(&text, "%s%s:%lld", shown ? "," : "",
						   ip ? ip : "",
						   (long long)json_integer_value(port));
				else
					buf_printf(&text, "%s%s", shown ? "," : "", ip ? ip : "");
				shown++;
			}
		}
	}
	if (total > shown)
		buf_printf(&text, " + %zu more...", total - shown);
	kind_cell_string(cells, text.data, "<none>");
	char age[32];
	kind_age(ep, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
}

const struct kind_strategy endpoints_strategy = {
    .set_defaults = endpoints_set_defaults,
    .validate = endpoints_validate,
    .columns = endpoints_columns,
    .column_count = sizeof(endpoints_columns) / sizeof(endpoints_columns[0]),
    .table_cells = endpoints_table_cells,
};
