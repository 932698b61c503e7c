package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Why this exists: on hosts whose CPUs have AMX (Sapphire Rapids and later), the kernel's
// PTRACE_SETREGSET for NT_X86_XSTATE accepts only a buffer of the full XSAVE size including the
// AMX tile data (about 11 KB), while the Debian 6.1 UML kernel passes its own, smaller size (2696
// bytes here) and then dies at the first process it starts ("userspace - ptrace set fp regs
// failed, errno = 14"). This LD_PRELOAD shim wraps ptrace() in linux.uml: when such a call fails
// with EFAULT it reads the tracee's full state, lays UML's bytes over its head and writes the full
// buffer back. The state beyond UML's size (AMX, unused by UML's processes) is left as it was.
// Every other ptrace call passes through unchanged.
const xstateShimC = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NT_X86_XSTATE_ 0x202
#define BUF_MAX (64 * 1024)

typedef long (*ptrace_fn)(int, ...);
static char buf[BUF_MAX] __attribute__((aligned(64)));
static int busy;
static size_t full_size;

long ptrace(enum __ptrace_request req, ...)
{
	static ptrace_fn real;
	va_list ap;
	va_start(ap, req);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	if (req != PTRACE_SETREGSET || (long)addr != NT_X86_XSTATE_)
		return real(req, pid, addr, data);
	struct iovec *iov = data;
	if (full_size == 0 || iov->iov_len >= full_size) {
		long r = real(req, pid, addr, data);
		if (r == 0 || errno != EFAULT)
			return r;
	}
	/* UML's kernel stacks are small: use a static buffer, or a mapping if it is in use. */
	char *b = buf;
	int mapped = 0;
	if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE)) {
		b = mmap(NULL, BUF_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED) {
			errno = EFAULT;
			return -1;
		}
		mapped = 1;
	}
	struct iovec full = { .iov_base = b, .iov_len = BUF_MAX };
	long r = real(PTRACE_GETREGSET, pid, addr, &full);
	if (r == 0 && full.iov_len > iov->iov_len) {
		full_size = full.iov_len;
		memcpy(b, iov->iov_base, iov->iov_len);
		r = real(PTRACE_SETREGSET, pid, addr, &full);
	} else if (r == 0) {
		errno = EFAULT;
		r = -1;
	}
	int saved = errno;
	if (mapped)
		munmap(b, BUF_MAX);
	else
		__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
	errno = saved;
	return r;
}
`

// buildXstateShim compiles the shim into dir and returns its path. Without a C compiler it
// returns "" and an error only if the CPU has AMX, where UML cannot run without it.
func buildXstateShim(ctx context.Context, dir string) (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		if cc, err = exec.LookPath("gcc"); err != nil {
			if cpuHasAMX() {
				return "", fmt.Errorf("this CPU has AMX: UML needs a C compiler (cc) for its ptrace shim; install gcc")
			}
			return "", nil
		}
	}
	src := filepath.Join(dir, "xstate_shim.c")
	so := filepath.Join(dir, "xstate_shim.so")
	if err := os.WriteFile(src, []byte(xstateShimC), 0o644); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, cc, "-O2", "-shared", "-fPIC", "-o", so, src, "-ldl").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compile UML ptrace shim: %w: %s", err, out)
	}
	return so, nil
}

func cpuHasAMX() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	return err == nil && strings.Contains(string(b), " amx_tile")
}
