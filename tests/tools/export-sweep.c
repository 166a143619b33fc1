/* Test helper: every one-byte change to a real audit export must be refused by dcr_audit_export_verify. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fileio.h"
#include "specs.h"

#include "banned.h"

/*
 * usage: export-sweep SPECS EXPORT
 * Verifies EXPORT against SPECS (it must pass), then, for every byte
 * offset, the export with that byte flipped (two masks), and with a byte
 * inserted there (two values) or appended at the end. Each must be
 * refused as an integrity violation (DCR_EINTEGRITY, exit 9), with a
 * message; inside the evidence an attestation rejection (DCR_EATTEST,
 * exit 5) is also right, as dcr-audit(1) says. Prints the first cases
 * that are not, and a count of what was tried; exits 1 if any was not.
 */

static size_t varint(const uint8_t *b, size_t len, size_t *at)
{
	size_t v = 0;

	for (unsigned shift = 0; *at < len && shift < 64; shift += 7) {
		uint8_t c = b[(*at)++];

		v |= (size_t)(c & 0x7f) << shift;
		if (c < 0x80)
			break;
	}
	return v;
}

/* Where the evidence field (number 3, tag and all) lies in the export. */
static bool evidence_span(const uint8_t *b, size_t len, size_t *start, size_t *end)
{
	size_t at = 0;

	while (at < len) {
		size_t field_at = at, tag = varint(b, len, &at), n;

		if ((tag & 7) == 0) {
			varint(b, len, &at);
			continue;
		}
		if ((tag & 7) != 2)
			return false;
		n = varint(b, len, &at);
		if (n > len - at)
			return false;
		at += n;
		if (tag >> 3 == 3) {
			*start = field_at;
			*end = at;
			return true;
		}
	}
	return false;
}

struct sweep {
	const struct dcr_specs *specs;
	size_t ev_start, ev_end;
	size_t tried, bad;
};

static void try(struct sweep *s, const uint8_t *b, size_t len, const char *what, size_t offset, unsigned value)
{
	struct dcr_audit_export ex;
	struct dcr_err err = { 0 };
	int r = dcr_audit_export_verify(b, len, s->specs, &ex, &err);
	bool in_evidence = offset >= s->ev_start && offset < s->ev_end;

	dcr_audit_export_release(&ex);
	s->tried++;
	if ((r == DCR_EINTEGRITY || (r == DCR_EATTEST && in_evidence)) && err.msg[0])
		return;
	if (s->bad++ < 20)
		fprintf(stderr, "%s at byte %zu (%#x): %d %s\n", what, offset, value, r, r ? err.msg : "accepted");
}

int main(int argc, char **argv)
{
	static const uint8_t masks[] = { 0x01, 0x80 }, inserts[] = { 0x00, 0x7a };
	struct dcr_specs *specs = NULL;
	struct dcr_audit_export ex;
	struct sweep s = { 0 };
	struct dcr_err err;
	uint8_t *data = NULL, *b;
	size_t len = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: export-sweep SPECS EXPORT\n");
		return 2;
	}
	if (dcr_specs_load(argv[1], &specs, &err) < 0 || dcr_read_file(argv[2], 64u << 20, &data, &len, &err) < 0) {
		fprintf(stderr, "export-sweep: %s\n", err.msg);
		return 1;
	}
	if (dcr_audit_export_verify(data, len, specs, &ex, &err) < 0) {
		fprintf(stderr, "export-sweep: the untouched export does not verify: %s\n", err.msg);
		return 1;
	}
	dcr_audit_export_release(&ex);
	if (!evidence_span(data, len, &s.ev_start, &s.ev_end) || !(b = malloc(len + 1))) {
		fprintf(stderr, "export-sweep: no evidence field, or out of memory\n");
		return 1;
	}
	s.specs = specs;
	for (size_t i = 0; i < len; i++)
		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(b, data, len);
			b[i] ^= masks[m];
			try(&s, b, len, "flipped", i, masks[m]);
		}
	for (size_t i = 0; i <= len; i++)
		for (size_t v = 0; v < sizeof(inserts); v++) {
			memcpy(b, data, i);
			b[i] = inserts[v];
			memcpy(b + i + 1, data + i, len - i);
			try(&s, b, len + 1, i == len ? "appended" : "inserted", i, inserts[v]);
		}
	printf("%zu changes to a %zu-byte export tried, %zu not refused as they should be\n", s.tried, len, s.bad);
	free(b);
	free(data);
	dcr_specs_free(specs);
	return s.bad ? 1 : 0;
}
