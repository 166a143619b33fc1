/* The dcr command line: the command table, option parsing and shared helpers. */
#ifndef DCR_CLI_H
#define DCR_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "err.h"

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
int cmd_attest(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_create(const struct command *cmd, struct cli *cli, struct parsed *args);
int cmd_completion(const struct command *cmd, struct cli *cli, struct parsed *args);

#endif
