/* The watchdog's side of the engine: each thread's state and heartbeat for a conductor that
 * looks for stalls (stresskit/diagnostics/stalls.py builds the wait-for graph from them), a
 * fatal-signal handler that leaves the faulting thread's native backtrace in a file, and the
 * test hooks that plant a stall, a deadlock cycle and a crash. */
#if !defined(_GNU_SOURCE)
#  define _GNU_SOURCE /* syscall(SYS_gettid), sigaction with SA_SIGINFO */
#endif
#include "engine_internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#if defined(__GLIBC__)
#  include <execinfo.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#  define SK_HAVE_BACKTRACE 1
#endif

size_t sk_run_thread_states(const sk_run_t *run, uint32_t *states, uint64_t *heartbeats, size_t cap) {
    if (run == NULL || !run->prepared) return 0;
    size_t n = 0;
    for (uint32_t i = 0; i < run->nroles; i++) {
        const sk_role_t *r = &run->roles[i];
        for (uint32_t j = 0; j < r->cfg.threads; j++, n++) {
            if (n >= cap) continue;
            sk_thread_t *t = &r->threads[j];
            if (states) states[n] = atomic_load_explicit(&t->wstate, memory_order_relaxed);
            if (heartbeats) heartbeats[n] = atomic_load_explicit(&t->heartbeat, memory_order_relaxed);
        }
    }
    return n;
}

static bool role_bit(const _Atomic uint64_t *mask, uint32_t role) {
    return (atomic_load_explicit((_Atomic uint64_t *)mask, memory_order_relaxed) >> role) & 1u;
}

/* Kept out of line and never inlined: the planted fault must happen in a frame of its own,
 * called from the step function, so the backtrace shows both. */
static SK_NOINLINE void planted_fault(void) {
    volatile int *volatile nowhere = NULL;
    *nowhere = 1;
}

int32_t sk_watch_hooks(sk_run_t *run, sk_thread_t *t, uint64_t deadline) {
    if ((atomic_load_explicit(&run->test_hold_roles, memory_order_relaxed) |
         atomic_load_explicit(&run->test_crash_roles, memory_order_relaxed)) == 0)
        return 0;
    if (t->index == 0 && role_bit(&run->test_crash_roles, t->role)) planted_fault();
    if (!role_bit(&run->test_hold_roles, t->role)) return 0;
    sk_watch_set(t, SK_TS_HELD, 0);
    struct timespec nap = {0, 1000000};
    while (!atomic_load_explicit(&run->abort_now, memory_order_relaxed) && sk_now_ns() < deadline)
        nanosleep(&nap, NULL);
    return atomic_load_explicit(&run->abort_now, memory_order_relaxed) ? 0 : 1;
}

static int32_t set_role_bit(sk_run_t *run, _Atomic uint64_t *mask, uint32_t role) {
    if (run == NULL || role >= 64 || role >= run->nroles) return -1;
    atomic_fetch_or(mask, UINT64_C(1) << role);
    return 0;
}

int32_t sk_engine_testing_hold_role(sk_run_t *run, uint32_t role) {
    return run == NULL ? -1 : set_role_bit(run, &run->test_hold_roles, role);
}

int32_t sk_engine_testing_crash_role(sk_run_t *run, uint32_t role) {
    return run == NULL ? -1 : set_role_bit(run, &run->test_crash_roles, role);
}

int32_t sk_engine_testing_recirculate(sk_run_t *run) {
    if (run == NULL) return -1;
    atomic_store(&run->test_recirculate, true);
    return 0;
}

/* ---- the fatal-signal handler ---- */

#if defined(SK_HAVE_BACKTRACE)
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
enum { SK_FATAL_COUNT = sizeof fatal_signals / sizeof fatal_signals[0] };
static struct sigaction previous[SK_FATAL_COUNT];
static int crash_fd = -1;

static void put(const char *s) {
    ssize_t left = (ssize_t)strlen(s);
    while (left > 0) {
        ssize_t n = write(crash_fd, s, (size_t)left);
        if (n <= 0) return;
        s += n;
        left -= n;
    }
}

/* Decimal without stdio (not async-signal-safe). */
static void put_u64(uint64_t v) {
    char buf[24];
    char *p = buf + sizeof buf - 1;
    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(p);
}

static const char *signal_name(int sig) {
    switch (sig) {
        case SIGSEGV: return "SIGSEGV";
        case SIGBUS: return "SIGBUS";
        case SIGILL: return "SIGILL";
        case SIGFPE: return "SIGFPE";
        case SIGABRT: return "SIGABRT";
        default: return "?";
    }
}

static void on_fatal(int sig, siginfo_t *info, void *context) {
    (void)context;
    int saved = errno;
    put("fatal signal ");
    put_u64((uint64_t)sig);
    put(" (");
    put(signal_name(sig));
    put(") in thread ");
    put_u64((uint64_t)syscall(SYS_gettid));
    put(" at address 0x");
    char hex[17];
    uintptr_t a = (uintptr_t)(info != NULL ? info->si_addr : NULL);
    for (int i = 15; i >= 0; i--, a >>= 4) hex[i] = "0123456789abcdef"[a & 15];
    hex[16] = '\0';
    put(hex);
    put("\n");
    void *frames[64];
    int n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, crash_fd);
    put("end of native backtrace\n");
    /* Hand the signal on: the handler we replaced (faulthandler) runs when this one returns and
     * the signal, raised again, is unblocked; it then restores the default and the process dies
     * of the signal, as it would have without us. */
    for (int i = 0; i < SK_FATAL_COUNT; i++)
        if (fatal_signals[i] == sig) sigaction(sig, &previous[i], NULL);
    raise(sig);
    errno = saved;
}
#endif

int32_t sk_crash_handler_install(int32_t fd) {
#if defined(SK_HAVE_BACKTRACE)
    if (fd < 0) return -1;
    void *warm[2];
    backtrace(warm, 2); /* loads libgcc's unwinder now: dlopen inside a signal handler is unsafe */
    crash_fd = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < SK_FATAL_COUNT; i++)
        if (sigaction(fatal_signals[i], &sa, &previous[i]) != 0) return -1;
    return 0;
#else
    (void)fd;
    return -1;
#endif
}
