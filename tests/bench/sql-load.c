/*
 * For profiling an SQL job without dcrd (perf, callgrind): the benchmark's
 * by_region computation on ENGINE run in this process by sql_run (as the
 * SQL worker runs it), its sales table read from a CSV file in 64 KiB
 * pieces, the result on stdout.
 *
 * usage: sql-load sqlite|duckdb CSV [THREADS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room.h"
#include "specs.h"
#include "sql.h"
#include "work.h"

static const char specs_yaml[] =
	"version: 1\n"
	"specs:\n"
	"  dcrd:sim:\n"
	"    format: sim\n"
	"    measurement: 0000000000000000000000000000000000000000000000000000000000000001\n";

static int read_file(void *ctx, const char *node, dcr_stream_sink *sink, void *sink_ctx, struct dcr_err *err)
{
	static uint8_t buf[64 << 10];
	FILE *f = fopen(ctx, "rb");
	size_t n;
	int r = 0;

	if (!f)
		return dcr_err_set(err, DCR_ENOTFOUND, "cannot open '%s'", (const char *)ctx);
	while (r == 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		r = sink(sink_ctx, buf, n, err);
	fclose(f);
	return r;
}

int main(int argc, char **argv)
{
	char yaml[2048];
	struct dcr_specs *specs;
	struct dcr_room *room;
	struct dcr_err err;
	struct work_inputs in = { .read = read_file };
	struct sql_limits lim = { .time_ms = 3600 * 1000, .max_memory = 4ull << 30 };
	struct sql_result res;

	if (argc < 3 || (strcmp(argv[1], "sqlite") != 0 && strcmp(argv[1], "duckdb") != 0)) {
		fprintf(stderr, "usage: sql-load sqlite|duckdb CSV [THREADS]\n");
		return 2;
	}
	in.ctx = argv[2];
	lim.threads = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	snprintf(yaml, sizeof(yaml),
		"version: 1\nname: sql-load\nenclave: dcrd:sim\nauthentication: {platform: true}\n"
		"participants:\n  owner@bench.example:\n"
		"data:\n  sales:\n    type: table\n    columns:\n      - {name: id, type: int64}\n"
		"      - {name: region, type: string}\n      - {name: amount, type: float64}\n"
		"      - {name: day, type: date}\n"
		"compute:\n  by_region:\n    type: sql\n    engine: %s\n    query: SELECT region, COUNT(*) AS n, "
		"SUM(amount) AS total FROM sales GROUP BY region ORDER BY region\n", argv[1]);
	if (dcr_sql_init(&err) < 0 ||
	    dcr_specs_parse("specs.yaml", (const uint8_t *)specs_yaml, strlen(specs_yaml), &specs, &err) < 0 ||
	    dcr_room_parse("room.yaml", (const uint8_t *)yaml, strlen(yaml), ".", specs, "", &room, &err) < 0 ||
	    sql_run(dcr_room_definition(room), "by_region", &in, &lim, &res, &err) < 0) {
		fprintf(stderr, "sql-load: %s\n", err.msg);
		return 1;
	}
	fwrite(res.csv, 1, res.len, stdout);
	free(res.csv);
	dcr_room_free(room);
	dcr_specs_free(specs);
	return 0;
}
