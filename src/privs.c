/* SPDX-License-Identifier: MIT */
/*
 * privs.c - the system index opened with the setgid group, then the group
 * dropped for good (privs.h).
 */
#include "privs.h"

#include "store.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct {
	bool was_setgid;
	bool have_id;		/* dev, ino: of PRIVS_SYSTEM_DB as opened */
	dev_t dev;
	ino_t ino;
	struct store *store;	/* until handed over */
	int err;		/* why there is no store */
} g;

static bool ids_uniform(uid_t *ret_uid, gid_t *ret_gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return false;
	*ret_uid = ru;
	*ret_gid = rg;
	return ru == eu && ru == su && rg == eg && rg == sg;
}

bool privs_elevated(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uid_t uid;
	gid_t gid;

	if (!ids_uniform(&uid, &gid))
		return true;
	if (uid == 0)
		return false; /* root's rights are its own */
	if (syscall(SYS_capget, &hdr, data) < 0)
		return true;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].permitted || data[i].effective)
			return true;
	return false;
}

static void open_system(void)
{
	struct stat st;

	if (stat(PRIVS_SYSTEM_DB, &st) < 0) {
		g.err = -errno;
		return;
	}
	g.dev = st.st_dev;
	g.ino = st.st_ino;
	g.have_id = true;
	g.err = store_open(PRIVS_SYSTEM_DB, STORE_RDONLY, &g.store);
}

int privs_init(void)
{
	uid_t uid;
	gid_t gid;

	if (ids_uniform(&uid, &gid))
		return 0;
	g.was_setgid = true;
	/* The index's pages and descriptors stay: no ptrace, no core of them. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	open_system();
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	if (!ids_uniform(&uid, &gid))
		return -EPERM;
	return 0;
}

bool privs_was_setgid(void)
{
	return g.was_setgid;
}

int privs_take_store(const char *path, struct store **ret_store)
{
	struct stat st;

	if (!g.have_id || stat(path, &st) < 0 || st.st_dev != g.dev || st.st_ino != g.ino)
		return 0;
	if (!g.store)
		return g.err ? g.err : -EBUSY;
	*ret_store = g.store;
	g.store = NULL;
	g.err = -EBUSY; /* handed over once */
	return 1;
}
