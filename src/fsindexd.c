/* SPDX-License-Identifier: MIT */
/*
 * fsindexd.c - main of fsindexd(8), the daemon that keeps an index up to
 * date: the command line only.  The modules it runs on:
 *   daemon.c          start, main loop (signals, watchdog, timers), reload, stop
 *   daemon-job.c      the job thread: reconciles (scan.c) and rescans (rescan.c)
 *   daemon-control.c  answers on the control socket (control.c: protocol, client)
 *   daemon-events.c   the seam to the file-event source (watch.c)
 *   rootdrop.c        a root taken out of the configuration, out of the index
 *   config.c          fsindex.conf(5); engine.c, store.c and below as for fsindex
 */
#include "daemon.h"

#include "cli.h"
#include "log.h"

#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void usage(void)
{
	printf("Usage: fsindexd [OPTION]...\n"
	       "Keep the index of the roots named in fsindex.conf up to date (in the\n"
	       "foreground, for systemd).\n"
	       "\n"
	       "      --config FILE  configuration (default: /etc/fsindex.conf; with --user\n"
	       "                     $XDG_CONFIG_HOME/fsindex/fsindex.conf)\n"
	       "      --db DIR       index location, over the file's db=\n"
	       "      --user         per-user daemon: user paths, same-uid callers only\n"
	       "  -h, --help         show this help and exit\n"
	       "  -V, --version      show the version and exit\n"
	       "\n"
	       "Exit status: 0 stopped cleanly, 2 could not start.\n");
}

int main(int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_DB, OPT_USER };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "db", required_argument, NULL, OPT_DB },
		{ "user", no_argument, NULL, OPT_USER },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o = { 0 };
	int c;

	/* Always "<N>" prefixes: stderr goes to the journal under systemd. */
	log_init("fsindexd", true);
	/* Every rescan and per-entry error too (fsindexd(8), ENVIRONMENT). */
	if (secure_getenv("FSINDEXD_DEBUG") && *secure_getenv("FSINDEXD_DEBUG"))
		log_set_max_level(LOG_DEBUG);
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			o.config = optarg;
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_USER:
			o.user = true;
			break;
		case 'h':
			usage();
			return EXIT_OK;
		case 'V':
			printf("fsindexd %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'fsindexd --help'.\n");
			return EXIT_FATAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		fprintf(stderr, "Try 'fsindexd --help'.\n");
		return EXIT_FATAL;
	}
	return daemon_run(&o);
}
