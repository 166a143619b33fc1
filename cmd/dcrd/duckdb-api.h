/*
 * The part of DuckDB's C API that dcrd uses, declared by this project: the
 * library dcrd links (libduckdb.so from the npm package
 * @duckdb/node-bindings-linux-x64, see scripts/install-deps.sh) ships no
 * header. Written from DuckDB's documented C API (duckdb.org/docs/api/c:
 * overview, configuration, query, prepared statements, appender, data
 * chunks, vectors, types) and checked against DuckDB 1.5.6, whose library exports every
 * function below. The struct layouts are the ones that header gives for
 * 1.x; dcrd only ever passes pointers to them back to the library, except
 * duckdb_result, which the caller allocates (its size must match), and the
 * values in vectors, which it reads and writes in place (duckdb_date,
 * duckdb_hugeint, duckdb_string_t: their layouts must match).
 */
#ifndef DCRD_DUCKDB_API_H
#define DCRD_DUCKDB_API_H

#include <stdbool.h>
#include <stdint.h>

typedef uint64_t idx_t;

typedef enum { DuckDBSuccess = 0, DuckDBError = 1 } duckdb_state;

/* The logical types of a result column dcrd tells apart (DUCKDB_TYPE in duckdb.h). */
typedef enum {
	DUCKDB_TYPE_INVALID = 0,
	DUCKDB_TYPE_BOOLEAN = 1,
	DUCKDB_TYPE_TINYINT = 2,
	DUCKDB_TYPE_SMALLINT = 3,
	DUCKDB_TYPE_INTEGER = 4,
	DUCKDB_TYPE_BIGINT = 5,
	DUCKDB_TYPE_UTINYINT = 6,
	DUCKDB_TYPE_USMALLINT = 7,
	DUCKDB_TYPE_UINTEGER = 8,
	DUCKDB_TYPE_UBIGINT = 9,
	DUCKDB_TYPE_FLOAT = 10,
	DUCKDB_TYPE_DOUBLE = 11,
	DUCKDB_TYPE_DATE = 13,
	DUCKDB_TYPE_BLOB = 18,
	DUCKDB_TYPE_DECIMAL = 19,
	DUCKDB_TYPE_HUGEINT = 16,
	DUCKDB_TYPE_VARCHAR = 17,
	DUCKDB_TYPE_LIST = 24,
	DUCKDB_TYPE_STRUCT = 25,
	DUCKDB_TYPE_MAP = 26,
	DUCKDB_TYPE_UUID = 27,
	DUCKDB_TYPE_UNION = 28,
	DUCKDB_TYPE_UHUGEINT = 32,
	DUCKDB_TYPE_ARRAY = 33,
} duckdb_type;

/* duckdb_statement_type: only SELECT matters here. */
typedef enum { DUCKDB_STATEMENT_TYPE_INVALID = 0, DUCKDB_STATEMENT_TYPE_SELECT = 1 } duckdb_statement_type;

typedef struct _duckdb_database { void *internal_ptr; } *duckdb_database;
typedef struct _duckdb_connection { void *internal_ptr; } *duckdb_connection;
typedef struct _duckdb_config { void *internal_ptr; } *duckdb_config;
typedef struct _duckdb_prepared_statement { void *internal_ptr; } *duckdb_prepared_statement;
typedef struct _duckdb_extracted_statements { void *internal_ptr; } *duckdb_extracted_statements;
typedef struct _duckdb_appender { void *internal_ptr; } *duckdb_appender;
typedef struct _duckdb_logical_type { void *internal_ptr; } *duckdb_logical_type;
typedef struct _duckdb_data_chunk { void *internal_ptr; } *duckdb_data_chunk;
typedef struct _duckdb_vector { void *internal_ptr; } *duckdb_vector;

/*
 * A vector's values: DATE (days since 1970-01-01), HUGEINT (also UUID's storage: its 128 bits, big-endian,
 * with the top bit flipped), UHUGEINT, VARCHAR (16 bytes, read through the functions).
 */
typedef struct { int32_t days; } duckdb_date;
typedef struct { uint64_t lower; int64_t upper; } duckdb_hugeint;
typedef struct { uint64_t lower; uint64_t upper; } duckdb_uhugeint;
typedef struct {
	union {
		struct { uint32_t length; char prefix[4]; char *ptr; } pointer;
		struct { uint32_t length; char inlined[12]; } inlined;
	} value;
} duckdb_string_t;

typedef struct {
	idx_t deprecated_column_count;
	idx_t deprecated_row_count;
	idx_t deprecated_rows_changed;
	void *deprecated_columns;
	char *deprecated_error_message;
	void *internal_data;
} duckdb_result;

const char *duckdb_library_version(void);
void duckdb_free(void *ptr);

duckdb_state duckdb_create_config(duckdb_config *out_config);
duckdb_state duckdb_set_config(duckdb_config config, const char *name, const char *option);
void duckdb_destroy_config(duckdb_config *config);
duckdb_state duckdb_open_ext(const char *path, duckdb_database *out_database, duckdb_config config, char **out_error);
void duckdb_close(duckdb_database *database);
duckdb_state duckdb_connect(duckdb_database database, duckdb_connection *out_connection);
void duckdb_disconnect(duckdb_connection *connection);

duckdb_state duckdb_query(duckdb_connection connection, const char *query, duckdb_result *out_result);
void duckdb_destroy_result(duckdb_result *result);
const char *duckdb_result_error(duckdb_result *result);

idx_t duckdb_extract_statements(duckdb_connection connection, const char *query,
	duckdb_extracted_statements *out_extracted_statements);
duckdb_state duckdb_prepare_extracted_statement(duckdb_connection connection,
	duckdb_extracted_statements extracted_statements, idx_t index, duckdb_prepared_statement *out_prepared_statement);
const char *duckdb_extract_statements_error(duckdb_extracted_statements extracted_statements);
void duckdb_destroy_extracted(duckdb_extracted_statements *extracted_statements);

const char *duckdb_prepare_error(duckdb_prepared_statement prepared_statement);
duckdb_statement_type duckdb_prepared_statement_type(duckdb_prepared_statement statement);
duckdb_state duckdb_execute_prepared(duckdb_prepared_statement prepared_statement, duckdb_result *out_result);
void duckdb_destroy_prepare(duckdb_prepared_statement *prepared_statement);
duckdb_state duckdb_prepare(duckdb_connection connection, const char *query,
	duckdb_prepared_statement *out_prepared_statement);
/* The result's columns as prepared, before it runs. */
idx_t duckdb_prepared_statement_column_count(duckdb_prepared_statement prepared_statement);
duckdb_type duckdb_prepared_statement_column_type(duckdb_prepared_statement prepared_statement, idx_t col_idx);
/*
 * Run, the result produced as it is read (duckdb_fetch_chunk only): NULL from
 * duckdb_fetch_chunk is the end, or a failure that duckdb_result_error then gives.
 */
duckdb_state duckdb_execute_prepared_streaming(duckdb_prepared_statement prepared_statement,
	duckdb_result *out_result);
duckdb_state duckdb_bind_varchar(duckdb_prepared_statement prepared_statement, idx_t param_idx, const char *val);

idx_t duckdb_column_count(duckdb_result *result);
const char *duckdb_column_name(duckdb_result *result, idx_t col);
duckdb_type duckdb_column_type(duckdb_result *result, idx_t col);
idx_t duckdb_row_count(duckdb_result *result);
bool duckdb_value_is_null(duckdb_result *result, idx_t col, idx_t row);
double duckdb_value_double(duckdb_result *result, idx_t col, idx_t row);
char *duckdb_value_varchar(duckdb_result *result, idx_t col, idx_t row); /* duckdb_free */
int64_t duckdb_value_int64(duckdb_result *result, idx_t col, idx_t row);

duckdb_state duckdb_appender_create(duckdb_connection connection, const char *schema, const char *table,
	duckdb_appender *out_appender);
duckdb_state duckdb_appender_create_ext(duckdb_connection connection, const char *catalog, const char *schema,
	const char *table, duckdb_appender *out_appender);
const char *duckdb_appender_error(duckdb_appender appender);
duckdb_state duckdb_appender_end_row(duckdb_appender appender);
duckdb_state duckdb_appender_close(duckdb_appender appender);
duckdb_state duckdb_appender_destroy(duckdb_appender *appender);
duckdb_state duckdb_append_bool(duckdb_appender appender, bool value);
duckdb_state duckdb_append_int64(duckdb_appender appender, int64_t value);
duckdb_state duckdb_append_double(duckdb_appender appender, double value);
duckdb_state duckdb_append_varchar_length(duckdb_appender appender, const char *val, idx_t length);
duckdb_state duckdb_append_null(duckdb_appender appender);
duckdb_state duckdb_append_data_chunk(duckdb_appender appender, duckdb_data_chunk chunk);

/* Data chunks and vectors: STANDARD_VECTOR_SIZE (duckdb_vector_size) rows at most. */
idx_t duckdb_vector_size(void);
duckdb_logical_type duckdb_create_logical_type(duckdb_type type);
void duckdb_destroy_logical_type(duckdb_logical_type *type);
duckdb_type duckdb_decimal_internal_type(duckdb_logical_type type);
uint8_t duckdb_decimal_width(duckdb_logical_type type);
uint8_t duckdb_decimal_scale(duckdb_logical_type type);
duckdb_data_chunk duckdb_create_data_chunk(duckdb_logical_type *types, idx_t column_count);
void duckdb_destroy_data_chunk(duckdb_data_chunk *chunk);
void duckdb_data_chunk_reset(duckdb_data_chunk chunk);
idx_t duckdb_data_chunk_get_size(duckdb_data_chunk chunk);
void duckdb_data_chunk_set_size(duckdb_data_chunk chunk, idx_t size);
duckdb_vector duckdb_data_chunk_get_vector(duckdb_data_chunk chunk, idx_t col_idx);
void *duckdb_vector_get_data(duckdb_vector vector);
uint64_t *duckdb_vector_get_validity(duckdb_vector vector); /* NULL: every row valid */
void duckdb_vector_ensure_validity_writable(duckdb_vector vector);
/* Without the UTF-8 check of duckdb_vector_assign_string_element_len: str must be valid UTF-8. */
void duckdb_unsafe_vector_assign_string_element_len(duckdb_vector vector, idx_t index, const char *str,
	idx_t str_len);
bool duckdb_validity_row_is_valid(uint64_t *validity, idx_t row);
void duckdb_validity_set_row_invalid(uint64_t *validity, idx_t row);
uint32_t duckdb_string_t_length(duckdb_string_t string);
const char *duckdb_string_t_data(duckdb_string_t *string);

/* A result read chunk by chunk (never together with the duckdb_value_* functions): NULL after the last. */
duckdb_data_chunk duckdb_fetch_chunk(duckdb_result result);
duckdb_logical_type duckdb_column_logical_type(duckdb_result *result, idx_t col);

#endif
