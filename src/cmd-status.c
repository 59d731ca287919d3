/* SPDX-License-Identifier: MIT */
/*
 * cmd-status.c - `fsindex status` and `fsindex reload`: clients of
 * fsindexd's control socket (control.h), options and exit status.
 */
#include "cmd.h"

#include "cli.h"
#include "control.h"
#include "errors.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_JSON = CLI_OPT_OWN, OPT_USER };

static const struct cli_option status_options[] = {
	{ "--json", NULL, OPT_JSON, NULL, "one JSON object instead of text", CLI_STATUS },
	{ "--user", NULL, OPT_USER, NULL,
	  "ask the per-user daemon (fsindexd --user) at\n$XDG_RUNTIME_DIR/fsindex/control",
	  CLI_STATUS | CLI_RELOAD },
};

static const struct cli_command status_cmd = {
	.name = "status",
	.bit = CLI_STATUS,
	.synopsis = "[OPTION]...",
	.about = "Show what fsindexd is doing: its state, each root's mode and last\n"
		 "reconcile, the events it processed, the index size, version and uptime.\n",
	.notes = "Exit status: 0 answered, 2 no daemon or an error.\n",
	.own = status_options,
	.nown = ARRAY_SIZE(status_options),
};

static const struct cli_command reload_cmd = {
	.name = "reload",
	.bit = CLI_RELOAD,
	.synopsis = "[OPTION]...",
	.about = "Make fsindexd re-read its configuration; returns once it has.  A file\n"
		 "with an error is refused and the running configuration kept.\n",
	.notes = "Exit status: 0 reloaded, 2 refused, no daemon, or another error.\n",
	.own = status_options + 1,
	.nown = 1,
};

static int parse(const struct cli_command *cmd, int argc, char **argv, bool *json, bool *user)
{
	struct cli_common common = { 0 };
	struct cli_parser p;
	int c, r;

	cli_parser_init(&p, cmd);
	while ((c = cli_getopt(&p, argc, argv)) != -1) {
		r = cli_common_option(&p, c, &common);
		if (r < 0 || r == CLI_HELP_SHOWN)
			return r;
		if (r)
			continue;
		if (c == OPT_JSON)
			*json = true;
		else if (c == OPT_USER)
			*user = true;
		else
			return -EINVAL;
	}
	if (cli_common_finish(&p, &common) < 0)
		return -EINVAL;
	if (optind < argc) {
		log_error("%s: unexpected argument '%s'", cmd->name, argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int request(const char *cmd, bool user, const char *verb)
{
	char *path = NULL, *err = NULL;
	int r = control_socket_path(user, &path);

	if (r < 0) {
		log_error("%s: %s", cmd, r == -ENOENT ? "XDG_RUNTIME_DIR is not set" : fsi_strerror(r));
		return EXIT_FATAL;
	}
	fflush(stdout);
	r = control_request(path, verb, NULL, stdout, &err);
	if (r == -ENOENT || r == -ECONNREFUSED)
		log_error("%s: fsindexd is not running (no daemon at '%s')", cmd, path);
	else if (r == -EPROTO)
		log_error("%s: %s", cmd, err ? err : "the daemon refused");
	else if (r < 0)
		log_error("%s: cannot reach fsindexd at '%s': %s", cmd, path, fsi_strerror(r));
	free(err);
	free(path);
	return r < 0 ? EXIT_FATAL : EXIT_OK;
}

int cmd_status(int argc, char **argv)
{
	bool json = false, user = false;
	int r = parse(&status_cmd, argc, argv, &json, &user);

	if (r != 0)
		return r == CLI_HELP_SHOWN ? EXIT_OK : cli_usage_error("status");
	return request("status", user, json ? "status-json" : "status");
}

int cmd_reload(int argc, char **argv)
{
	bool json = false, user = false;
	int r = parse(&reload_cmd, argc, argv, &json, &user);

	if (r != 0)
		return r == CLI_HELP_SHOWN ? EXIT_OK : cli_usage_error("reload");
	return request("reload", user, "reload");
}
