/* SPDX-License-Identifier: MIT */
/*
 * control.h - fsindexd's control socket: where it lives, who may do what,
 * the line protocol, and the client side `fsindex status` and `fsindex
 * reload` use.
 *
 * The protocol (a SOCK_STREAM AF_UNIX socket, one request per connection):
 *
 *   request  = VERB [" " ARG] "\n"        at most CONTROL_MAX_LINE bytes
 *   VERB     = "status" | "status-json" | "reload" | "rescan" | "sync"
 *   reply    = *( "+ " TEXT "\n" ) ( "OK\n" | "ERR " TEXT "\n" )
 *
 *   status       "+ " lines of a human-readable report (paths quoted as
 *                log_quote() does, so no line can be forged)
 *   status-json  one "+ " line holding one JSON object (see fsindexd(8));
 *                its "db_dev" and "db_ino" identify the index (control_db_ident())
 *   reload       re-read the configuration; the reply comes once it is done:
 *                "OK", or "ERR" with the reason the old one is kept
 *   rescan PATH  queue a rescan of directory PATH (absolute, as the index
 *                spells it, at or below a root of the daemon), or of every
 *                root without PATH; "OK" once queued
 *   sync [PATH]  answer "OK" once every change made to the root covering
 *                PATH (every root without PATH) before the request is in
 *                the index: the daemon creates and removes a cookie file
 *                in the root and waits for its event's rescan to commit
 *
 * The daemon closes the connection after the final line.  `status`,
 * `status-json` and `sync` are anyone's; `rescan` and `reload` need uid 0, the
 * daemon's own uid, or (system daemon) membership of group CONTROL_GROUP.
 */
#ifndef FSINDEX_CONTROL_H
#define FSINDEX_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define CONTROL_MAX_LINE 4096	   /* a request: a verb and a path of PATH_MAX */
#define CONTROL_GROUP "fsindex"	   /* who may change things on a system daemon */
#define CONTROL_SYSTEM_PATH "/run/fsindex/control"

/** The verbs of a request. */
enum control_verb {
	CONTROL_STATUS,
	CONTROL_STATUS_JSON,
	CONTROL_RELOAD,
	CONTROL_RESCAN,
	CONTROL_SYNC,
};

/**
 * The socket's path: CONTROL_SYSTEM_PATH, or with @user
 * "$XDG_RUNTIME_DIR/fsindex/control".  *ret is malloc'd, the caller's.
 * Returns 0, -ENOENT (@user without an absolute XDG_RUNTIME_DIR) or -ENOMEM.
 */
int control_socket_path(bool user, char **ret);

/**
 * Create the listening socket at @path (its directory made 0755 if
 * missing, a stale socket replaced, the socket itself 0666: the verbs
 * check the caller).  Returns the descriptor (O_CLOEXEC, non-blocking) or
 * -errno.
 */
int control_listen(const char *path);

/**
 * Parse request line @line (@len bytes, without its '\n') into *ret_verb
 * and *ret_arg (a pointer into @line, NUL-terminated there, or NULL when
 * there is none).  @line must have room for the NUL at @len.
 * Returns 0 or -EINVAL (unknown verb, a verb that takes no argument given
 * one, a NUL byte).
 */
int control_parse(char *line, size_t len, enum control_verb *ret_verb, char **ret_arg);

/** Does @verb change anything (so control_may() matters)? */
bool control_verb_privileged(enum control_verb verb);

/**
 * May the peer of connected socket @fd use privileged verbs?  Yes for uid
 * 0 and for @owner (the daemon's uid); with @group_ok, also for a peer
 * whose primary or supplementary groups include @group.  False when the
 * credentials cannot be read.
 */
bool control_may(int fd, uid_t owner, bool group_ok, gid_t group);

/**
 * The identity of index @db (a directory, its data.mdb, or a data file of
 * another name) for telling whether two spellings name one index: the
 * directory's device and inode, the data file's for a data file of another
 * name.  Returns 0 or -errno of stat().
 */
int control_db_ident(const char *db, dev_t *ret_dev, ino_t *ret_ino);

/**
 * The client: connect to @path, send @verb (and @arg when not NULL), and
 * copy each "+ " line of the reply, without the "+ ", to @out (NULL: drop them).  Returns 0
 * on "OK"; -EPROTO on "ERR", with the text in *ret_err (malloc'd, the
 * caller's; may be NULL); -ECONNREFUSED or -ENOENT when no daemon listens;
 * or another -errno.  Waits as long as the daemon takes (reload is
 * synchronous).
 */
int control_request(const char *path, const char *verb, const char *arg, FILE *out,
		    char **ret_err);

#endif /* FSINDEX_CONTROL_H */
