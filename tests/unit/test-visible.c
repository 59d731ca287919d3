/* SPDX-License-Identifier: MIT */
/*
 * test-visible.c - the reach check (visible.h) and the path set
 * (pathset.h).  The checker's cache must give, in any order of questions,
 * what a naive check gives: access(R_OK | X_OK) of every directory above
 * the entry, asked afresh (the oracle), on a tree of directories of modes
 * 0755, 0711, 0744 and 0700 owned by root, asked as uid 65534 (root may
 * search and read anything, so as root the checker must say yes to all).
 * The path set must hold what was added and nothing else.
 */
#include "pathset.h"
#include "visible.h"

#include "tap.h"

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPATHS 64

static char paths[NPATHS][256];
static size_t npaths;

static const mode_t modes[] = { 0755, 0711, 0744, 0700 };

/* A tree two levels deep below @top, every mode at each level; its files' paths into paths[]. */
static void make_tree(const char *top)
{
	char d1[200], d2[230];

	for (int i = 0; i < 4; i++) {
		snprintf(d1, sizeof(d1), "%s/m%o", top, (unsigned)modes[i]);
		mkdir(d1, 0755);
		for (int j = 0; j < 4; j++) {
			snprintf(d2, sizeof(d2), "%s/n%o", d1, (unsigned)modes[j]);
			mkdir(d2, 0755);
			snprintf(paths[npaths++], sizeof(paths[0]), "%s/file", d2);
			chmod(d2, modes[j]);
		}
		snprintf(paths[npaths++], sizeof(paths[0]), "%s/file", d1);
		chmod(d1, modes[i]);
	}
	snprintf(paths[npaths++], sizeof(paths[0]), "%s/file", top);
	snprintf(paths[npaths++], sizeof(paths[0]), "%s", top);
	snprintf(paths[npaths++], sizeof(paths[0]), "/");
}

/* The oracle: every directory above @path passes access() now. */
static bool naive(const char *path)
{
	char buf[256];
	char *slash;

	if (strcmp(path, "/") == 0)
		return true;
	snprintf(buf, sizeof(buf), "%s", path);
	while ((slash = strrchr(buf, '/')) != NULL) {
		if (slash == buf) {
			return access("/", R_OK | X_OK) == 0;
		}
		*slash = '\0';
		if (access(buf, R_OK | X_OK) != 0)
			return false;
	}
	return true;
}

static bool ask(struct visible *v, const char *path)
{
	const char *slash = strrchr(path, '/');

	return visible_entry(v, path, strlen(path), (size_t)(slash - path) + 1);
}

/* Questions in order, then reversed, then 2000 at random: cache == oracle each time. */
static int compare_orders(void)
{
	struct visible *v;
	int wrong = 0, seen_no = 0;

	if (visible_new(&v) < 0)
		return -1;
	for (size_t i = 0; i < npaths; i++)
		wrong += ask(v, paths[i]) != naive(paths[i]);
	for (size_t i = npaths; i-- > 0;)
		wrong += ask(v, paths[i]) != naive(paths[i]);
	srand(7);
	for (int k = 0; k < 2000; k++) {
		const char *p = paths[(size_t)rand() % npaths];
		bool want = naive(p);

		wrong += ask(v, p) != want;
		seen_no += !want;
	}
	visible_free(v);
	return wrong ? wrong : seen_no ? 0 : -2;
}

static void test_visible(void)
{
	char top[] = "/tmp/test-visible.XXXXXX", cmd[128];
	pid_t pid;
	int st;

	if (!mkdtemp(top)) {
		ok(0, "mkdtemp");
		return;
	}
	chmod(top, 0755);
	make_tree(top);
	ok(compare_orders() == -2, "as %s: every entry visible, cache and oracle agree",
	   geteuid() == 0 ? "root" : "the caller");
	if (geteuid() == 0) {
		pid = fork();
		if (pid == 0) {
			if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
			    setresuid(65534, 65534, 65534) < 0)
				_exit(3);
			_exit(compare_orders() == 0 ? 0 : 1);
		}
		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "as uid 65534: the cached answers are the oracle's in any order, some refused");
	} else {
		ok(1, "# SKIP not root: cannot ask as another user");
	}
	ok(!visible_needed(top) || geteuid() != 0, "root needs no checker");
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s && rm -rf %s", top, top);
	ok(system(cmd) == 0, "clean up");
}

static void test_pathset(void)
{
	struct pathset *s;
	char buf[64];
	int bad = 0;

	ok(pathset_new(&s) == 0, "pathset_new");
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(buf, sizeof(buf), "/some/dir/%d", i);

		bad += pathset_add(s, buf, (size_t)n) != 1;
	}
	ok(bad == 0, "5000 new paths added, each once");
	bad = 0;
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(buf, sizeof(buf), "/some/dir/%d", i);

		bad += pathset_add(s, buf, (size_t)n) != 0 || !pathset_has(s, buf, (size_t)n);
	}
	ok(bad == 0, "...each is there, and adding it again says so");
	bad = 0;
	for (int i = 5000; i < 10000; i++) {
		int n = snprintf(buf, sizeof(buf), "/some/dir/%d", i);

		bad += pathset_has(s, buf, (size_t)n);
	}
	ok(bad == 0, "...and no other path is");
	ok(pathset_has(s, "/some/dir/1", 11) && !pathset_has(s, "/some/dir/1", 10),
	   "a path is its bytes: a prefix is another path");
	pathset_free(s);
	pathset_free(NULL);
}

int main(void)
{
	plan_lazy();
	test_visible();
	test_pathset();
	return done_testing();
}
