/* SPDX-License-Identifier: MIT */
/*
 * no-uring.c - run a command the way a container runtime would with a
 * seccomp profile that refuses io_uring: io_uring_setup, io_uring_enter and
 * io_uring_register fail with EPERM (or ENOSYS with --enosys); everything
 * else is allowed.  Tests run fsindex (or a unit test) under it to prove the
 * pread fallback is taken for real, not simulated.
 *
 *   no-uring [--enosys] COMMAND [ARG...]
 *
 * The filter is classic BPF (SECCOMP_MODE_FILTER).  It first checks the
 * architecture in seccomp_data: a syscall number means nothing without it
 * (on x86-64, 425 is io_uring_setup, but an i386 binary's 425 is too, and x32
 * calls carry bit 30).  Calls from any other architecture, and x32 calls,
 * are refused with the same errno, so no ABI can reach io_uring around the
 * filter.  PR_SET_NO_NEW_PRIVS comes first, as an unprivileged filter
 * requires, and it survives the execvp(), like the filter itself.
 * Exit status: 125 if the filter cannot be installed, 126/127 if the command
 * cannot be run (as env(1) does), else the command's.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH_NR AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define ARCH_NR AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define ARCH_NR AUDIT_ARCH_AARCH64
#elif defined(__arm__) && defined(__ARMEL__)
#define ARCH_NR AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define ARCH_NR AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARCH_NR AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define ARCH_NR AUDIT_ARCH_S390X
#else
#error "no-uring: add this architecture's AUDIT_ARCH_* value"
#endif

/* The io_uring syscalls share one number on every architecture but alpha (5.1+). */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

#define X32_SYSCALL_BIT 0x40000000u

static int install(unsigned err)
{
	struct sock_filter code[] = {
		/* [0] */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		/* [1] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_NR, 1, 0),
		/* [2] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		/* [3] */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
		/* [4] x32 → [7] */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 2, 0),
#else
		/* [4] */ BPF_STMT(BPF_JMP | BPF_JA, 0),
#endif
		/* [5] below → [8] */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __NR_io_uring_setup, 0, 2),
		/* [6] above → [8] */
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, __NR_io_uring_register, 1, 0),
		/* [7] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		/* [8] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(code) / sizeof(code[0]),
		.filter = code,
	};

	_Static_assert(__NR_io_uring_register == __NR_io_uring_setup + 2,
		       "the filter refuses a contiguous range");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned err = EPERM;
	int i = 1, r;

	if (i < argc && strcmp(argv[i], "--enosys") == 0) {
		err = ENOSYS;
		i++;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc) {
		fprintf(stderr, "usage: no-uring [--enosys] COMMAND [ARG...]\n");
		return 125;
	}
	r = install(err);
	if (r < 0) {
		fprintf(stderr, "no-uring: cannot install the seccomp filter: %s\n", strerror(-r));
		return 125;
	}
	execvp(argv[i], argv + i);
	r = errno;
	fprintf(stderr, "no-uring: %s: %s\n", argv[i], strerror(r));
	return r == ENOENT ? 127 : 126;
}
