/* dcr: the data clean room command line; global options and dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcr.h"
#include "sql.h"
#include "util.h"

#include "banned.h"

#ifdef __has_feature
#define DCR_HAS_FEATURE(x) __has_feature(x)
#else
#define DCR_HAS_FEATURE(x) 0
#endif

#define DEFAULT_ENDPOINT "http://127.0.0.1:7443"
#define MAX_LONGOPTS 40

enum { GLOBAL_BASE = 1000, PARSE_HELP = -1 };

static size_t count_options(const struct option_spec *o)
{
	size_t n = 0;

	while (o && o[n].name)
		n++;
	return n;
}

static void apply_global(struct cli *cli, const char *name, const char *value)
{
	if (strcmp(name, "endpoint") == 0)
		cli->endpoint = value;
	else if (strcmp(name, "identity") == 0)
		cli->identity_dir = value;
	else if (strcmp(name, "specs") == 0)
		cli->specs = value;
	else if (strcmp(name, "json") == 0)
		cli->json = true;
	else if (strcmp(name, "quiet") == 0)
		cli->verbosity = -1;
	else if (strcmp(name, "verbose") == 0)
		cli->verbosity++;
}

/* The argument as the user typed it, for error messages. */
static const char *bad_arg(char **argv, int opt)
{
	static char shortbuf[3];

	if (opt) {
		shortbuf[0] = '-';
		shortbuf[1] = (char)opt;
		return shortbuf;
	}
	return argv[optind - 1];
}

/*
 * One getopt_long pass over argv with the command's own options (cmd may be
 * NULL for the options before the command) and the global ones. With
 * cmd == NULL parsing stops at the first positional argument.
 */
static int parse(const struct command *cmd, struct cli *cli, int argc, char **argv, struct parsed *out)
{
	const struct option_spec *local = cmd ? cmd->options : NULL;
	size_t nlocal = count_options(local), nglobal = count_options(global_options);
	struct option longopts[MAX_LONGOPTS + 1];
	char optstring[2 * MAX_LONGOPTS + 3];
	size_t n = 0, s = 0;
	int c;

	memset(out, 0, sizeof(*out));
	optstring[s++] = cmd ? ':' : '+';
	if (!cmd)
		optstring[s++] = ':';
	for (size_t i = 0; i < nlocal + nglobal && n < MAX_LONGOPTS; i++) {
		const struct option_spec *o = i < nlocal ? &local[i] : &global_options[i - nlocal];
		int val = i < nlocal ? (int)i : GLOBAL_BASE + (int)(i - nlocal);

		longopts[n++] = (struct option){ o->name, o->arg == ARG_NONE ? no_argument : required_argument, NULL, val };
		if (o->short_name) {
			optstring[s++] = o->short_name;
			if (o->arg != ARG_NONE)
				optstring[s++] = ':';
		}
	}
	longopts[n] = (struct option){ 0 };
	optstring[s] = '\0';

	optind = 0; /* glibc: full re-initialisation between passes */
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		const struct option_spec *o = NULL;
		int idx = -1;

		if (c == '?' || c == ':') {
			const char *what = bad_arg(argv, optopt);

			if (c == ':')
				fprintf(stderr, "dcr: %s%soption '%s' needs a value\n",
					cmd ? cmd->name : "", cmd ? ": " : "", what);
			else
				fprintf(stderr, "dcr: %s%sunknown option '%s'\n",
					cmd ? cmd->name : "", cmd ? ": " : "", what);
			fprintf(stderr, "Run 'dcr help%s%s' for usage.\n", cmd ? " " : "", cmd ? cmd->name : "");
			return 2;
		}
		if (c >= GLOBAL_BASE) {
			o = &global_options[c - GLOBAL_BASE];
		} else if ((size_t)c < nlocal) {
			idx = c;
			o = &local[c];
		} else {
			for (size_t i = 0; i < nlocal; i++)
				if (local[i].short_name == c)
					idx = (int)i, o = &local[i];
			for (size_t i = 0; !o && i < nglobal; i++)
				if (global_options[i].short_name == c)
					o = &global_options[i];
		}
		if (!o)
			return 2;
		if (idx >= 0) {
			out->set[idx] = true;
			out->value[idx] = optarg;
		} else if (strcmp(o->name, "help") == 0) {
			if (cmd)
				print_command_help(cmd, stdout);
			else
				cmd_help(NULL, cli, out);
			return PARSE_HELP;
		} else if (strcmp(o->name, "version") == 0) {
			printf("dcr %s\n", DCR_VERSION);
			return PARSE_HELP;
		} else {
			apply_global(cli, o->name, optarg);
		}
	}
	out->argc = argc - optind;
	out->argv = argv + optind;
	return 0;
}

int parse_args(const struct command *cmd, struct cli *cli, int argc, char **argv, struct parsed *out)
{
	return parse(cmd, cli, argc, argv, out);
}

static int option_index(const struct command *cmd, const char *name)
{
	for (int i = 0; cmd->options && cmd->options[i].name; i++)
		if (strcmp(cmd->options[i].name, name) == 0)
			return i;
	return -1;
}

bool opt_set(const struct command *cmd, const struct parsed *p, const char *name)
{
	int i = option_index(cmd, name);

	return i >= 0 && p->set[i];
}

const char *opt_value(const struct command *cmd, const struct parsed *p, const char *name)
{
	int i = option_index(cmd, name);

	return i >= 0 ? p->value[i] : NULL;
}

int report(const struct command *cmd, const struct dcr_err *err)
{
	/* Messages quote dcrd and other parties (names, a script's failure): one line, nothing for the terminal. */
	fprintf(stderr, "dcr: %s: ", cmd->name);
	put_text(stderr, err->msg, false);
	fputc('\n', stderr);
	return dcr_err_exit_status(err->code);
}

int usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dcr: %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: dcr %s %s\nRun 'dcr help %s' for more.\n", cmd->name, cmd->args, cmd->name);
	return 2;
}

static void set_defaults(struct cli *cli)
{
	const char *env;

	cli->endpoint = (env = getenv("DCR_ENDPOINT")) && *env ? env : DEFAULT_ENDPOINT;
	cli->specs = (env = getenv("DCR_SPECS")) && *env ? env : NULL;
	cli->identity_dir = NULL; /* resolved from XDG_CONFIG_HOME when a command needs it */
}

int main(int argc, char **argv)
{
	const char *names[64];
	const struct command *cmd;
	struct parsed parsed;
	struct cli cli = { 0 };
	size_t n = 0;
	int r;

	/* Before anything uses SQLite: validating a room's queries is held to a memory budget. */
	dcr_sql_init(NULL);
	set_defaults(&cli);
	r = parse(NULL, &cli, argc, argv, &parsed);
	if (r == PARSE_HELP)
		return 0;
	if (r)
		return r;
	if (parsed.argc == 0) {
		print_usage(stderr);
		return 2;
	}
	cmd = command_find(parsed.argv[0]);
	if (!cmd) {
		const char *hint;

		for (const struct command *c = commands; c->name && n + 1 < sizeof(names) / sizeof(*names); c++)
			names[n++] = c->name;
		names[n] = NULL;
		hint = dcr_suggest(parsed.argv[0], names);
		fprintf(stderr, "dcr: unknown command '%s'", parsed.argv[0]);
		if (hint)
			fprintf(stderr, " (did you mean '%s'?)", hint);
		fputc('\n', stderr);
		print_usage(stderr);
		return 2;
	}
	r = parse(cmd, &cli, parsed.argc, parsed.argv, &parsed);
	if (r == PARSE_HELP)
		return 0;
	if (r)
		return r;
	if (!cmd->run) {
		fprintf(stderr, "dcr: %s: not implemented yet\n", cmd->name);
		return 1;
	}
	r = cmd->run(cmd, &cli, &parsed);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("dcr: cannot write standard output");
		return 1;
	}
#if !defined(__SANITIZE_ADDRESS__) && !DCR_HAS_FEATURE(address_sanitizer)
	/*
	 * Everything is written and closed: skip the exit handlers, which only
	 * free memory. OpenSSL's teardown alone was 1.3 M instructions, 3 % of
	 * a `dcr run --wait` (docs/performance.md). The sanitizer builds exit
	 * normally, so that their leak check still runs.
	 */
	fflush(stderr);
	_exit(r);
#else
	return r;
#endif
}
