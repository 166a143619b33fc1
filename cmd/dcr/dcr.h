/* The dcr command line: the command table, option parsing and shared helpers. */
#ifndef DCR_CLI_H
#define DCR_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "api.pb-c.h"
#include "client.h"
#include "err.h"
#include "room.h"

/* What an option takes after it; drives parsing, help and completion. */
enum arg_kind {
	ARG_NONE,  /* a flag */
	ARG_VALUE, /* a value with no completion: URL, e-mail, time ... */
	ARG_FILE,  /* a path to a file */
	ARG_DIR,   /* a path to a directory */
};

struct option_spec {
	const char *name;  /* long name without the dashes */
	char short_name;   /* 0 if none */
	enum arg_kind arg;
	const char *metavar; /* shown in help for options with a value */
	const char *help;
};

/* Global options and the settings they resolve to. */
struct cli {
	const char *endpoint;
	const char *identity_dir;
	const char *specs;
	bool json;
	int verbosity; /* -1 quiet, 0 normal, 1+ verbose */
};

#define MAX_OPTIONS 16

/* The result of parsing one command's arguments. */
struct parsed {
	const char *value[MAX_OPTIONS]; /* indexed like the command's option table */
	bool set[MAX_OPTIONS];
	int argc;                       /* positional arguments, after the command name */
	char **argv;
};

struct command;
typedef int (*command_fn)(const struct command *cmd, struct cli *cli, struct parsed *args);

enum command_flags {
	CMD_NEEDS_IDENTITY = 1 << 0,  /* signs calls with the user's certificate key */
	CMD_NEEDS_ENCLAVE = 1 << 1,   /* talks to an attested dcrd */
	CMD_COMPLETES_COMMANDS = 1 << 2, /* its argument is a command name */
};

struct command {
	const char *name;
	command_fn run;             /* NULL: not implemented yet */
	const char *args;           /* synopsis after the name */
	const char *summary;        /* one line, lowercase, no full stop */
	const char *const *subcommands; /* NULL-terminated words completed as first argument */
	const struct option_spec *options; /* terminated by an entry with name NULL */
	unsigned flags;
};

extern const struct command commands[];
extern const struct option_spec global_options[];

const struct command *command_find(const char *name);

/*
 * Parse argv (argv[0] is the command name) against the command's options and
 * the global ones, which may also follow the command. Prints usage on stderr
 * and returns 2 on a bad option; returns -1 when --help was given (help has
 * been printed); 0 otherwise.
 */
int parse_args(const struct command *cmd, struct cli *cli, int argc, char **argv, struct parsed *out);

/* Whether option name (long form) was given, and its value (NULL if none). */
bool opt_set(const struct command *cmd, const struct parsed *p, const char *name);
const char *opt_value(const struct command *cmd, const struct parsed *p, const char *name);

/* Report err once on stderr as "dcr: CMD: message" and return its exit status. */
int report(const struct command *cmd, const struct dcr_err *err);

/* "dcr: CMD: message" on stderr, then a pointer to 'dcr help CMD'; returns 2. */
int usage_error(const struct command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void print_command_help(const struct command *cmd, FILE *out);
void print_usage(FILE *out);

int cmd_help(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_version(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_auth(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_attest(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_create(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_rooms(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_show(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_status(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_stop(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_audit(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_upload(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_publish(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_uploads(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_datasets(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_run(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_fetch(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_jobs(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_completion(const struct command *cmd, struct cli *cli, struct parsed *args);

/*
 * A conversation with dcrd (session.c): the trusted specs, the user's
 * identity and a client that attests dcrd on its first call. Caller-owned;
 * session_close releases it (also after a failed session_open).
 */
struct session {
	const struct command *cmd;
	struct cli *cli;
	struct dcr_specs *specs;
	struct dcr_identity *identity;
	struct dcr_client client;
	char identity_dir[4096];
	bool warned; /* the simulated-attestation warning is considered once */
};

/*
 * Load the specs (--specs or $DCR_SPECS, required) and the identity (-i DIR,
 * else $XDG_CONFIG_HOME/dcr, else ~/.config/dcr). Nothing goes over the
 * network yet. Returns 0, or the exit status after reporting the error.
 */
int session_open(const struct command *cmd, struct cli *cli, struct session *s);
void session_close(struct session *s);

/*
 * The same for dcr auth login, whose caller has no certificate yet: the
 * session takes id (from dcr_identity_login; freed even on failure).
 */
int session_open_login(const struct command *cmd, struct cli *cli, struct session *s, struct dcr_identity *id);

/* The identity directory (-i DIR, else $XDG_CONFIG_HOME/dcr, else ~/.config/dcr) into buf. */
int identity_dir(const struct cli *cli, char *buf, size_t size, struct dcr_err *err);

/*
 * Call method with req (NULL: an empty body), attesting dcrd first if not
 * done yet. On success *out (free()) holds the answer and 0 is returned;
 * otherwise the error has been reported and its exit status is returned.
 */
int session_call(const struct command *cmd, struct session *s, const char *method, const ProtobufCMessage *req,
	uint8_t **out, size_t *out_len);

/* Like session_call, but the error is left in err (a negative DCR_E* code is returned), not reported. */
int session_call_err(struct session *s, const char *method, const ProtobufCMessage *req, uint8_t **out,
	size_t *out_len, struct dcr_err *err);

/* method on room id, with a RoomRef as its argument; otherwise as session_call. */
int session_room_call(const struct command *cmd, struct session *s, const char *method, const char *id,
	uint8_t **out, size_t *out_len);

/* An answer from dcrd that does not parse or does not fit the question: "dcrd sent a malformed WHAT", exit 9. */
int report_malformed(const struct command *cmd, const char *what);

/* room.list; *out: dcr__v1__list_rooms_response__free_unpacked. Returns 0 or a reported exit status. */
int session_list_rooms(const struct command *cmd, struct session *s, Dcr__V1__ListRoomsResponse **out);

/*
 * The full room ID for arg: 64 hex digits as given (lowercased), or a
 * prefix of at least 8 that exactly one of the caller's rooms has (through
 * room.list). Returns 0, or 2 (malformed, ambiguous: the matches are
 * listed), 4 (no match), ... after reporting.
 */
int session_resolve_room(const struct command *cmd, struct session *s, const char *arg,
	char id[static DCR_ROOM_ID_HEX]);

/* cmd-create.c: the summary of a definition, shared by create and rooms. */
void room_print_summary(const Dcr__V1__RoomDefinition *def, const char *id);
json_t *room_definition_json(const Dcr__V1__RoomDefinition *def, const char *id);

/* Print j (one document) on standard output and release it; 0, or 1 after reporting. */
int print_json(const struct command *cmd, json_t *j);

/*
 * j as JSON on f, indented, keys in order, the way --json prints (cmd/dcr/
 * table.c): jansson escapes only C0 controls, so DEL and C1 controls in
 * strings are written as \u007F and \u0080 to \u009F, which no terminal
 * acts on. 0, or -1 when it cannot be written.
 */
int json_put(FILE *f, const json_t *j);

/*
 * Text from dcrd or another party (job logs, names, messages), as it may
 * reach a terminal (cmd/dcr/table.c): control characters (C0 but, with
 * multiline, \n and \t; DEL; C1, also as UTF-8) and bytes that are not
 * UTF-8 are written as \xHH, one per byte, so no escape sequence, carriage
 * return or line of its own reaches the terminal from someone else.
 */
void put_bytes(FILE *f, const void *text, size_t len, bool multiline);
void put_text(FILE *f, const char *s, bool multiline);

/* Tables (cmd/dcr/table.c): terminal columns of text as put_text shows it, a cell cut to width, the width to use. */
size_t columns_of(const char *s);
void put_cell(const char *s, size_t width, bool last);
size_t terminal_width(void);
/* Milliseconds since the epoch as RFC 3339 UTC ("" for 0: never); returns out. */
char *time_text(int64_t ms, char out[static 32]);

#endif
