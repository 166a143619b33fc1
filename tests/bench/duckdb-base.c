/*
 * The baseline of tests/bench/duckdb-bench.sh: DuckDB's own load of a CSV
 * (read_csv with the table's declared types) and a query, in a plain C
 * program linked against the same libduckdb as dcrd, with the thread
 * count and memory limit given. Prints the result as CSV, so that the
 * script can compare it with the job's.
 *
 * usage: duckdb-base CSV THREADS MEMORY QUERY
 *   the CSV holds the benchmark's sales table (id, region, amount, day)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duckdb-api.h"

static int query(duckdb_connection con, const char *sql, duckdb_result *res)
{
	if (duckdb_query(con, sql, res) != DuckDBSuccess) {
		fprintf(stderr, "duckdb-base: %s\n", duckdb_result_error(res));
		duckdb_destroy_result(res);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	duckdb_database db;
	duckdb_connection con;
	duckdb_config cfg;
	duckdb_result res;
	char *why = NULL, load[4096];

	if (argc != 5) {
		fprintf(stderr, "usage: duckdb-base CSV THREADS MEMORY QUERY\n");
		return 2;
	}
	if (duckdb_create_config(&cfg) != DuckDBSuccess || duckdb_set_config(cfg, "threads", argv[2]) != DuckDBSuccess ||
	    duckdb_set_config(cfg, "memory_limit", argv[3]) != DuckDBSuccess ||
	    duckdb_open_ext(NULL, &db, cfg, &why) != DuckDBSuccess || duckdb_connect(db, &con) != DuckDBSuccess) {
		fprintf(stderr, "duckdb-base: cannot open DuckDB: %s\n", why ? why : "bad configuration");
		return 1;
	}
	duckdb_destroy_config(&cfg);
	snprintf(load, sizeof(load), "CREATE TABLE sales AS SELECT * FROM read_csv('%s', header = true, "
		"columns = {'id': 'BIGINT', 'region': 'VARCHAR', 'amount': 'DOUBLE', 'day': 'DATE'})", argv[1]);
	if (query(con, load, &res) < 0)
		return 1;
	duckdb_destroy_result(&res);
	if (query(con, argv[4], &res) < 0)
		return 1;
	for (idx_t c = 0; c < duckdb_column_count(&res); c++)
		printf("%s%s", c ? "," : "", duckdb_column_name(&res, c));
	printf("\n");
	for (idx_t r = 0; r < duckdb_row_count(&res); r++) {
		for (idx_t c = 0; c < duckdb_column_count(&res); c++) {
			char *v = duckdb_value_varchar(&res, c, r);

			printf("%s%s", c ? "," : "", v ? v : "");
			duckdb_free(v);
		}
		printf("\n");
	}
	duckdb_destroy_result(&res);
	duckdb_disconnect(&con);
	duckdb_close(&db);
	return 0;
}
