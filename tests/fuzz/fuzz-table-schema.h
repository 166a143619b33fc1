/* The table both table fuzz targets load: chosen by the input's first byte. */
#ifndef FUZZ_TABLE_SCHEMA_H
#define FUZZ_TABLE_SCHEMA_H

#include <stdint.h>

#include "table.h"

/*
 * Five columns s, i, f, b, d (string, int64, float64, bool, date; f with a
 * csv_header that is no SQL name, dcr-room(5)), or s alone. Bits of flags:
 * 0 a header, 1 nullable columns, 2 one column instead of five. t points
 * into cols and colp.
 */
static inline void fuzz_table_schema(Dcr__V1__TableNode *t, Dcr__V1__Column cols[static 5],
	Dcr__V1__Column *colp[static 5], uint8_t flags, char delimiter)
{
	static const char *const names[] = { "s", "i", "f", "b", "d" };

	dcr__v1__table_node__init(t);
	t->header = flags & 1;
	t->delimiter = (uint32_t)(unsigned char)delimiter;
	t->n_columns = flags & 4 ? 1 : 5;
	t->columns = colp;
	for (size_t i = 0; i < 5; i++) {
		dcr__v1__column__init(&cols[i]);
		cols[i].name = (char *)names[i];
		cols[i].type = (Dcr__V1__ColumnType)(i + 1);
		cols[i].nullable = flags & 2;
		colp[i] = &cols[i];
	}
	cols[2].csv_header = "F \"net\", total";
}

#endif
