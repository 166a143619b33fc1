/*
 * Bench helper (tests/bench/audit-bench.sh only): append COUNT entries to
 * a room's audit log straight into a stopped sim dcrd's state.db, through
 * dcrd's own state_audit_append, in one transaction. Each entry is what a
 * room.status call by CALLER logs (time, caller, action, object, outcome,
 * a 16-byte salt), so the log looks like one filled by calls, in a
 * fraction of the time; the bench then measures real calls on it.
 *
 * usage: audit-fill DATA_DIR ROOM_ID CALLER COUNT
 *
 * It reads the sim sealing key from DATA_DIR/sim-sealing.key: it is for
 * simulated dcrds only, which protect nothing from the host anyway. It
 * builds against any dcrd tree whose state.c has state_audit_append, so
 * the bench can fill a baseline's directory with the baseline's code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.pb-c.h"
#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "util.h"

int main(int argc, char **argv)
{
	Dcr__V1__AuditEntry e = DCR__V1__AUDIT_ENTRY__INIT;
	struct dcr_merkle_frontier f;
	struct state s;
	struct dcr_err err;
	uint8_t key[32], salt[16], buf[512];
	char path[4096];
	long long count;
	char *end;

	if (argc != 5 || (count = strtoll(argv[4], &end, 10)) < 0 || *end) {
		fprintf(stderr, "usage: audit-fill DATA_DIR ROOM_ID CALLER COUNT\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/sim-sealing.key", argv[1]);
	if (dcr_keyfile_read(path, key, sizeof(key), &err) < 0 || state_open(&s, argv[1], key, &err) < 0) {
		fprintf(stderr, "audit-fill: %s\n", err.msg);
		return 1;
	}
	dcr_wipe(key, sizeof(key));
	e.caller = argv[3];
	e.action = "room.status";
	e.object = argv[2];
	e.outcome = "allowed";
	e.detail = "";
	e.issuer = "";
	e.salt = (ProtobufCBinaryData){ sizeof(salt), salt };
	if (state_begin(&s, &err) < 0)
		goto fail;
	for (long long i = 0; i < count; i++) {
		size_t len;

		e.time_ms = dcr_now_ms();
		if (dcr_random(salt, sizeof(salt), &err) < 0)
			goto fail;
		len = dcr__v1__audit_entry__get_packed_size(&e);
		if (len > sizeof(buf)) {
			fprintf(stderr, "audit-fill: an entry of %zu bytes\n", len);
			state_close(&s);
			return 1;
		}
		dcr__v1__audit_entry__pack(&e, buf);
		if (state_audit_append(&s, argv[2], buf, len, &f, &err) < 0)
			goto fail;
	}
	if (state_commit(&s, &err) < 0)
		goto fail;
	state_close(&s);
	return 0;
fail:
	fprintf(stderr, "audit-fill: %s\n", err.msg);
	state_rollback(&s);
	state_close(&s);
	return 1;
}
