/* bpjs-journal-layout: the journal-layout microbenchmark (issue 13's first
 * step). It simulates the journal's write path, without the daemon, for two
 * layouts on a journal pre-filled with W workers, and prints one key=value
 * line per run.
 *
 *   bpjs-journal-layout [--layout today|log] [--workers W] [--events N]
 *       [--batch B] [--delta D] [--delta-mb M] [--journal-mode wal|rollback]
 *       [--page-size BYTES] [--group-commit] [--bodies stored|derived]
 *       [--coverage-once] [--state tree|runs] [--fan-in F] [--base-ratio R]
 *       [--filter-bits K]
 *       [--lookups K] [--verify|--no-verify] [--dir DIR] [--keep] [--seed S]
 *       [--fault merge-drops-a-worker|replay-skips-answers|
 *                compaction-keeps-the-older]
 *
 * today: the daemon's tables, indexes and statements (daemon/journal/journal_sqlite.c
 * at the time of writing), run per event and per answer as the daemon runs
 * them: per consumed batch one transaction (offsets, events, coverage, ops,
 * quota, outbox, counters); per 500 ops a batch (insert, body, op updates),
 * in flight, answered (op results, coverage, final results in the outbox);
 * the outbox deleted row by row after "publishing".
 *
 * log: append-only. One row per consumed batch in log(seq, body), a compact
 * encoding of every decided record (event id, NIK, decision, item, and the
 * worker's state after it, so a restart replays without reading the worker
 * table); answers appended likewise; batch bodies appended to bodies(id,
 * body) (or, with --bodies derived, not stored: rebuilt from the log's items
 * for a resend); results published from the log by a cursor kept in the
 * next row's header, with the partition offsets and the quota counts. The
 * random-key state (each worker's coverage and its recent event ids) is kept
 * in an in-memory delta and merged in NIK order into workers(nik INTEGER
 * PRIMARY KEY, state BLOB) every D events or M MiB; events without a valid
 * NIK go to bad_events(event_id). On restart the log after the last merged
 * seq is replayed into the delta (timed). With --state runs the delta is
 * not merged in place but appended as one sorted run, runs compacted F at a
 * time and merged into the base at base/R rows (journal_layout_runs.c).
 *
 * The program decides every event from the state it stored (a pure decide()
 * shared by both layouts) and, with --verify, also from an independent
 * in-memory model: every decision and, at the end (and after the restart),
 * every touched worker's coverage read back must equal the model's, or it
 * exits 1 (--fault puts a defect in on purpose, to show that it does). The
 * WAL is checkpointed at the end of the run, inside what is measured, so
 * that both writes of a page count. NIKs never appear in its output. Links SQLite and
 * libc only. */
#include "journal_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- counting the syncs SQLite makes (interposed on libc's) ---- */

static atomic_long n_syncs;

int fdatasync(int fd)
{
        atomic_fetch_add(&n_syncs, 1);
        return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
        atomic_fetch_add(&n_syncs, 1);
        return (int)syscall(SYS_fsync, fd);
}

/* ---- small helpers ---- */

void die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "bpjs-journal-layout: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        exit(2);
}

double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct io {
        long long wchar, write_bytes;
};

static struct io io_now(void)
{
        struct io io = {0, 0};
        char line[128];
        FILE *f = fopen("/proc/self/io", "r");

        if (!f)
                return io;
        while (fgets(line, sizeof(line), f)) {
                sscanf(line, "wchar: %lld", &io.wchar);
                sscanf(line, "write_bytes: %lld", &io.write_bytes);
        }
        fclose(f);
        return io;
}

long long io_wchar(void)
{
        return io_now().wchar;
}

static long vm_hwm_kib(void)
{
        char line[128];
        long kib = 0;
        FILE *f = fopen("/proc/self/status", "r");

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                sscanf(line, "VmHWM: %ld", &kib);
        fclose(f);
        return kib;
}

static void hwm_reset(void)
{
        FILE *f = fopen("/proc/self/clear_refs", "w");
        if (f) {
                fputs("5", f);
                fclose(f);
        }
}

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t xorshift(uint64_t *x)
{
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

/* the workload's stream; what samples and checks draw comes from another,
 * so that --lookups and --verify do not change the events */
static uint64_t rnd(void)
{
        return xorshift(&rng_state);
}

static uint64_t side_state = 2463534242ULL;

static uint64_t side_rnd(void)
{
        return xorshift(&side_state);
}

void *xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                die("out of memory");
        return p;
}

static void *xrealloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                die("out of memory");
        return p;
}

struct buf {
        uint8_t *p;
        size_t n, cap;
};

static void buf_need(struct buf *b, size_t more)
{
        if (b->p && b->n + more <= b->cap) /* no buffer yet: allocate one */
                return;
        b->cap = (b->n + more) * 2;
        b->p = xrealloc(b->p, b->cap);
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
        if (!n)
                return; /* an empty buffer has no b->p to memcpy to */
        buf_need(b, n);
        memcpy(b->p + b->n, p, n);
        b->n += n;
}

static void buf_u8(struct buf *b, unsigned v)
{
        uint8_t c = (uint8_t)v;
        buf_put(b, &c, 1);
}

static void buf_uv(struct buf *b, uint64_t v)
{
        buf_need(b, 10);
        while (v >= 0x80) {
                b->p[b->n++] = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        b->p[b->n++] = (uint8_t)v;
}

static void buf_i64(struct buf *b, int64_t v)
{
        buf_put(b, &v, 8);
}

struct rd {
        const uint8_t *p, *end;
};

static uint64_t rd_uv(struct rd *r)
{
        uint64_t v = 0;
        int shift = 0;

        while (r->p < r->end) {
                uint8_t c = *r->p++;
                v |= (uint64_t)(c & 0x7f) << shift;
                if (!(c & 0x80))
                        return v;
                shift += 7;
        }
        die("log record truncated");
        return 0;
}

static unsigned rd_u8(struct rd *r)
{
        if (r->p >= r->end)
                die("log record truncated");
        return *r->p++;
}

static int64_t rd_i64(struct rd *r)
{
        int64_t v;
        if (r->end - r->p < 8)
                die("log record truncated");
        memcpy(&v, r->p, 8);
        r->p += 8;
        return v;
}

static const uint8_t *rd_bytes(struct rd *r, size_t n)
{
        const uint8_t *p = r->p;
        if ((size_t)(r->end - r->p) < n)
                die("log record truncated");
        r->p += n;
        return p;
}

/* ---- the options ---- */

enum layout { L_TODAY, L_LOG };

static struct {
        enum layout layout;
        long long workers, events, delta, lookups;
        long long delta_mb;
        int batch, page_size, group_commit, wal, bodies_stored, verify, keep;
        const char *dir;
        /* a defect put in on purpose, to show that --verify catches it */
        const char *fault;
        /* today's layout as the daemon writes it since the coverage_now view
         * (issue 13): a registration's success leaves its coverage row alone */
        int coverage_once;
        /* the log's worker state: merged in place into one B-tree (tree) or
         * appended as sorted runs (runs, journal_layout_runs.c) */
        int state_runs;
        struct runs_opt runs;
} opt = {
    .layout = L_TODAY,
    .workers = 10000000,
    .events = 1000000,
    .delta = 100000,
    .lookups = 100,
    .delta_mb = 48,
    .batch = 1000,
    .page_size = 4096,
    .wal = 1,
    .bodies_stored = 1,
    .verify = -1,
    .dir = "/var/tmp/bpjs-layout",
    .fault = "",
    .runs = {.fanin = 4, .base_ratio = 10, .filter_bits = 10},
};

/* ---- the programmes and the pure decision ---- */

#define NPROG   6
#define MAXCOV  NPROG
#define MAXIDS  16
#define PUSH_AT 500

static const struct {
        const char *id;
        int start, end; /* months since year 0 */
} progs[NPROG] = {
    {"bpp-2025", 2025 * 12 + 0, 2025 * 12 + 11},
    {"kaltim-2025", 2025 * 12 + 0, 2025 * 12 + 11},
    {"sorong-2024", 2024 * 12 + 0, 2024 * 12 + 11},
    {"jakarta-2025", 2025 * 12 + 2, 2026 * 12 + 1},
    {"pilot-2025", 2025 * 12 + 5, 2025 * 12 + 11},
    {"papua-2026", 2026 * 12 + 2, 2027 * 12 + 1},
};

static bool overlap(int a, int b)
{
        return progs[a].start <= progs[b].end && progs[b].start <= progs[a].end;
}

enum cov_state { C_PENDING = 1, C_ACTIVE = 2, C_ENDED = 3, C_FAILED = 4 };
enum ev_type { T_SUBMIT = 1, T_WITHDRAW = 2 };
enum dec {
        D_REDELIVERED,
        D_REJECTED,
        D_REGISTER,
        D_DUPLICATE,
        D_DEACTIVATE,
        D_IGNORED,
        D__COUNT
};
static const char *const dec_name[D__COUNT] = {"redelivered", "rejected",   "register",
                                               "duplicate",   "deactivate", "ignored"};

struct cov {
        uint8_t prog, st;
        int64_t reg; /* the registration op's id, in the layout's own numbering */
};

struct wid {
        char id[48];
        int64_t seq; /* the log row holding the event's record (log layout) */
};

struct wstate {
        int ncov, nids;
        struct cov cov[MAXCOV];
        struct wid ids[MAXIDS];
};

struct event {
        char id[48];
        int64_t nik; /* 0: not a valid NIK */
        uint8_t type, prog;
        int partition;
        int64_t offset;
};

static bool live(const struct cov *c)
{
        return c->st == C_PENDING || c->st == C_ACTIVE;
}

/* The decision on an event not seen before, from the worker's state; it
 * changes the state as the journal would (a registration's reg is the id
 * the layout gives its op). */
static enum dec decide(const struct event *e, struct wstate *w, int64_t reg,
                       int *covered_by)
{
        *covered_by = -1;
        if (!e->nik)
                return D_REJECTED;
        if (e->type == T_WITHDRAW) {
                for (int i = 0; i < w->ncov; i++)
                        if (w->cov[i].prog == e->prog && live(&w->cov[i])) {
                                w->cov[i].st = C_ENDED;
                                return D_DEACTIVATE;
                        }
                return D_IGNORED;
        }
        for (int i = 0; i < w->ncov; i++)
                if (live(&w->cov[i]) && overlap(w->cov[i].prog, e->prog)) {
                        *covered_by = w->cov[i].prog;
                        return D_DUPLICATE;
                }
        for (int i = 0; i < w->ncov; i++)
                if (w->cov[i].prog == e->prog) {
                        w->cov[i] = (struct cov){e->prog, C_PENDING, reg};
                        return D_REGISTER;
                }
        if (w->ncov == MAXCOV)
                die("a worker with more than %d programmes", MAXCOV);
        w->cov[w->ncov++] = (struct cov){e->prog, C_PENDING, reg};
        return D_REGISTER;
}

/* The answer to a registration: active if its coverage is still pending and
 * still its own. */
static void settle(struct wstate *w, int prog, int64_t reg)
{
        for (int i = 0; i < w->ncov; i++)
                if (w->cov[i].prog == prog && w->cov[i].reg == reg &&
                    w->cov[i].st == C_PENDING)
                        w->cov[i].st = C_ACTIVE;
}

static bool seen_in(const struct wstate *w, const char *id)
{
        for (int i = 0; i < w->nids; i++)
                if (strcmp(w->ids[i].id, id) == 0)
                        return true;
        return false;
}

static void remember(struct wstate *w, const char *id, int64_t seq)
{
        if (w->nids == MAXIDS) {
                memmove(&w->ids[0], &w->ids[1], sizeof(w->ids[0]) * (MAXIDS - 1));
                w->nids--;
        }
        snprintf(w->ids[w->nids].id, sizeof(w->ids[0].id), "%s", id);
        w->ids[w->nids++].seq = seq;
}

/* ---- the workload ---- */

/* Pre-filled worker k: NIK base + k*step (ascending, so filling is sorted),
 * one active coverage of programme k % NPROG, one event. */
static const int64_t nik_base = 3100000000000000LL;
static int64_t nik_step;

static int64_t fill_nik(long long k)
{
        return nik_base + (int64_t)k * nik_step;
}

static long long fill_index(int64_t nik)
{
        int64_t d = nik - nik_base;
        if (d < 0 || d % nik_step)
                return -1;
        return d / nik_step < opt.workers ? d / nik_step : -1;
}

static void fill_event_id(long long k, char *out, size_t size)
{
        snprintf(out, size, "fill:2024-06-01:%010lld", k);
}

static void fill_state(long long k, struct wstate *w)
{
        memset(w, 0, sizeof(*w));
        w->ncov = 1;
        w->cov[0] = (struct cov){(uint8_t)(k % NPROG), C_ACTIVE, k + 1};
        w->nids = 1;
        fill_event_id(k, w->ids[0].id, sizeof(w->ids[0].id));
}

static const char *const portals[] = {"fill",          "bpp-portal",   "kaltim-portal",
                                      "sorong-portal", "pilot-portal", "bad-portal"};
#define NPORTAL (int)(sizeof(portals) / sizeof(portals[0]))
#define NPART   8
#define RING    4096

static struct {
        long long n;
        struct event ring[RING];
        long long ring_n;
        struct {
                int64_t nik;
                uint8_t prog;
        } regs[RING];
        long long regs_n;
        int64_t offsets[NPART];
} gen;

static void gen_event(struct event *e)
{
        unsigned r = (unsigned)(rnd() % 1000);
        long long k;

        if (r < 50 && gen.ring_n > 0) { /* a redelivery: a message produced twice */
                *e = gen.ring[rnd() % (uint64_t)(gen.ring_n < RING ? gen.ring_n : RING)];
                e->offset = gen.offsets[e->partition]++;
                return;
        }
        memset(e, 0, sizeof(*e));
        gen.n++;
        e->type = T_SUBMIT;
        e->prog = (uint8_t)(rnd() % NPROG);
        if (r < 80) { /* bad input: a NIK that is not one */
                snprintf(e->id, sizeof(e->id), "%s:2025-01-06:%06lld", portals[5], gen.n);
                e->nik = 0;
        } else {
                snprintf(e->id, sizeof(e->id), "%s:2025-01-06:%06lld",
                         portals[1 + (int)(rnd() % 4)], gen.n);
                if (r < 150) { /* a withdrawal */
                        e->type = T_WITHDRAW;
                        if (gen.regs_n && rnd() % 2) {
                                long long i =
                                    (long long)(rnd() % (uint64_t)(gen.regs_n < RING
                                                                       ? gen.regs_n
                                                                       : RING));
                                e->nik = gen.regs[i].nik;
                                e->prog = gen.regs[i].prog;
                        } else if (opt.workers) {
                                k = (long long)(rnd() % (uint64_t)opt.workers);
                                e->nik = fill_nik(k);
                                e->prog = (uint8_t)(k % NPROG);
                        }
                } else if (r < 400 && opt.workers) { /* a re-enrolment */
                        if (gen.regs_n && rnd() % 5 < 2)
                                e->nik = gen.regs[rnd() % (uint64_t)(gen.regs_n < RING
                                                                         ? gen.regs_n
                                                                         : RING)]
                                             .nik;
                        else
                                e->nik =
                                    fill_nik((long long)(rnd() % (uint64_t)opt.workers));
                }
                if (!e->nik) /* a new worker, anywhere among the others */
                        e->nik = nik_base + 1 + (int64_t)(rnd() % 6000000000000000ULL);
                if (e->type == T_SUBMIT) {
                        gen.regs[gen.regs_n % RING].nik = e->nik;
                        gen.regs[gen.regs_n % RING].prog = e->prog;
                        gen.regs_n++;
                }
        }
        e->partition = (int)((uint64_t)(e->nik ? e->nik : gen.n) % NPART);
        e->offset = gen.offsets[e->partition]++;
        gen.ring[gen.ring_n++ % RING] = *e;
}

static void nik_text(int64_t nik, char out[17])
{
        snprintf(out, 17, "%016" PRId64, nik);
}

/* The registration item as item.c makes it, about 350 bytes. */
static size_t make_item(const struct event *e, int kind, char *out, size_t size)
{
        char nik[17];
        nik_text(e->nik, nik);
        if (kind == D_DEACTIVATE)
                return (size_t)snprintf(out, size,
                                        "{\"nik\":\"%s\",\"program\":\"%s\",\"reason\":"
                                        "\"withdrawn\",\"effective\":\"2025-02\"}",
                                        nik, progs[e->prog].id);
        return (size_t)snprintf(
            out, size,
            "{\"nik\":\"%s\",\"name\":\"Pekerja Nomor "
            "%lld\",\"birth_date\":\"1985-03-12\","
            "\"sex\":\"F\",\"phone\":\"+6281234567890\",\"email\":\"pekerja%lld@example."
            "co.id\","
            "\"address\":\"Jl. Jenderal Sudirman No. %d, Balikpapan Selatan\","
            "\"occupation\":\"penjahit\",\"employer\":\"UMKM Sejahtera Abadi\","
            "\"program\":\"%s\",\"period\":{\"start\":\"2025-01\",\"end\":\"2025-12\"},"
            "\"wage\":3500000,\"risk_class\":1,\"channel\":\"portal\"}",
            nik, gen.n, gen.n, (int)(gen.n % 300), progs[e->prog].id);
}

/* A result as result_encode makes it, about 250 bytes. */
static size_t make_result(const struct event *e, enum dec d, const char *kpj, char *out,
                          size_t size)
{
        char nik[17] = "";
        static const char *const st[D__COUNT] = {"",          "rejected",  "confirmed",
                                                 "duplicate", "confirmed", "ignored"};
        if (e->nik)
                nik_text(e->nik, nik);
        return (size_t)snprintf(
            out, size,
            "{\"schema\":\"enrollment-result/v1\",\"event_id\":\"%s\",\"program\":\"%s\","
            "\"nik\":\"%s\",\"status\":\"%s\",\"reason\":%s,\"kpj\":%s%s%s,"
            "\"at\":\"2025-01-06T08:15:00.123Z\",\"source\":{\"topic\":\"enrollment."
            "events\","
            "\"partition\":%d,\"offset\":%" PRId64 "}}",
            e->id, progs[e->prog].id, nik, kpj ? "registered" : st[d],
            d == D_REJECTED ? "\"invalid_nik\"" : "null", kpj ? "\"" : "",
            kpj ? kpj : "null", kpj ? "\"" : "", e->partition, e->offset);
}

/* ---- the model (--verify): an in-memory map NIK -> coverage ---- */

struct mslot {
        int64_t nik;
        struct wstate *w;
};

struct map {
        struct mslot *s;
        size_t cap, n;
};

static size_t map_hash(int64_t k)
{
        uint64_t x = (uint64_t)k * 0x9E3779B97F4A7C15ULL;
        return (size_t)(x ^ (x >> 29));
}

static struct mslot *map_find(struct map *m, int64_t nik, bool add)
{
        if (add && (m->n + 1) * 2 > m->cap) {
                struct map g = {calloc(m->cap ? m->cap * 2 : 1024, sizeof(*m->s)),
                                m->cap ? m->cap * 2 : 1024, 0};
                if (!g.s)
                        die("out of memory");
                for (size_t i = 0; i < m->cap; i++)
                        if (m->s[i].nik)
                                *map_find(&g, m->s[i].nik, true) = m->s[i];
                free(m->s);
                *m = g;
        }
        if (!m->cap)
                return NULL;
        for (size_t i = map_hash(nik) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                if (m->s[i].nik == nik)
                        return &m->s[i];
                if (!m->s[i].nik) {
                        if (!add)
                                return NULL;
                        m->s[i].nik = nik;
                        m->n++;
                        return &m->s[i];
                }
        }
}

static void map_free(struct map *m)
{
        for (size_t i = 0; i < m->cap; i++)
                free(m->s[i].w);
        free(m->s);
        memset(m, 0, sizeof(*m));
}

static struct {
        struct map workers;
        struct map seen; /* keyed by a hash of the event id */
        int64_t reg;
        struct {
                int64_t nik, reg;
                uint8_t prog;
        } * pending;
        size_t npending, cap;
        long long mismatches;
} model;

static int64_t id_hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        while (*s)
                h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
        return (int64_t)(h | 1);
}

static struct wstate *model_worker(int64_t nik)
{
        struct mslot *s = map_find(&model.workers, nik, true);
        if (!s->w) {
                long long k = fill_index(nik);
                s->w = calloc(1, sizeof(*s->w));
                if (!s->w)
                        die("out of memory");
                if (k >= 0)
                        fill_state(k, s->w);
        }
        return s->w;
}

static enum dec model_decide(const struct event *e)
{
        struct mslot *s = map_find(&model.seen, id_hash(e->id), false);
        struct wstate *w, none = {0};
        enum dec d;
        int cb;

        if (s)
                return D_REDELIVERED;
        map_find(&model.seen, id_hash(e->id), true);
        w = e->nik ? model_worker(e->nik) : &none;
        d = decide(e, w, model.reg + 1, &cb);
        if (d == D_REGISTER) {
                model.reg++;
                if (model.npending == model.cap) {
                        model.cap = model.cap ? model.cap * 2 : 1024;
                        model.pending =
                            xrealloc(model.pending, model.cap * sizeof(*model.pending));
                }
                model.pending[model.npending].nik = e->nik;
                model.pending[model.npending].reg = model.reg;
                model.pending[model.npending++].prog = e->prog;
        }
        return d;
}

/* the answers, as the layouts get them: every full PUSH_AT of registrations */
static void model_answer(bool all)
{
        size_t done = 0;
        while (model.npending - done >= PUSH_AT || (all && done < model.npending)) {
                size_t n =
                    model.npending - done < PUSH_AT ? model.npending - done : PUSH_AT;
                for (size_t i = done; i < done + n; i++)
                        settle(model_worker(model.pending[i].nik), model.pending[i].prog,
                               model.pending[i].reg);
                done += n;
        }
        memmove(model.pending, model.pending + done,
                (model.npending - done) * sizeof(*model.pending));
        model.npending -= done;
}

static bool same_coverage(const struct wstate *a, const struct wstate *b)
{
        int sa[NPROG] = {0}, sb[NPROG] = {0};
        for (int i = 0; i < a->ncov; i++)
                sa[a->cov[i].prog] = a->cov[i].st;
        for (int i = 0; i < b->ncov; i++)
                sb[b->cov[i].prog] = b->cov[i].st;
        return memcmp(sa, sb, sizeof(sa)) == 0;
}

/* ---- SQLite helpers ---- */

void ex(sqlite3 *db, const char *sql)
{
        char *err = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
                die("%s: %s", sql, err ? err : sqlite3_errmsg(db));
}

sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
        sqlite3_stmt *s;
        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK)
                die("prepare %s: %s", sql, sqlite3_errmsg(db));
        return s;
}

int step(sqlite3 *db, sqlite3_stmt *s)
{
        int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                die("%s: %s", sqlite3_sql(s), sqlite3_errmsg(db));
        return rc;
}

void run1(sqlite3 *db, sqlite3_stmt *s)
{
        step(db, s);
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
}

static sqlite3 *open_db(const char *path, bool fill)
{
        sqlite3 *db;
        char sql[256];

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
                die("%s: cannot open", path);
        sqlite3_busy_timeout(db, 60000);
        snprintf(sql, sizeof(sql), "PRAGMA page_size=%d", opt.page_size);
        ex(db, sql);
        if (fill) {
                ex(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                       " PRAGMA cache_size=-65536");
                return db;
        }
        ex(db, opt.wal ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=TRUNCATE");
        /* the daemon's settings */
        ex(db, "PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;"
               " PRAGMA cache_size=-8192; PRAGMA wal_autocheckpoint=10000");
        return db;
}

static void drop_cache(const char *path)
{
        char p[4096];
        const char *sfx[] = {"", "-wal"};
        for (int i = 0; i < 2; i++) {
                snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
                int fd = open(p, O_RDONLY);
                if (fd >= 0) {
                        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
                        close(fd);
                }
        }
}

static long long file_size(const char *path)
{
        char p[4096];
        struct stat st;
        long long n = 0;
        const char *sfx[] = {"", "-wal", "-journal"};
        for (int i = 0; i < 3; i++) {
                snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
                if (stat(p, &st) == 0)
                        n += st.st_size;
        }
        return n;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* ---- the run's shared state ---- */

static char db_path[4096];
static long long counts[D__COUNT];
static int64_t lookup_niks[100000];
static long long n_lookup_niks;

static void sample_nik(int64_t nik)
{
        static long long seen;
        if (!nik)
                return;
        seen++;
        if (n_lookup_niks < opt.lookups)
                lookup_niks[n_lookup_niks++] = nik;
        else if ((long long)(side_rnd() % (uint64_t)seen) < opt.lookups)
                lookup_niks[side_rnd() % (uint64_t)opt.lookups] = nik;
}

static void check_decision(const struct event *e, enum dec d)
{
        if (!opt.verify)
                return;
        enum dec m = model_decide(e);
        if (m != d && model.mismatches++ < 5)
                fprintf(stderr, "decision of event %s: journal %s, model %s\n", e->id,
                        dec_name[d], dec_name[m]);
}

/* ======================= layout: today ======================= */

static const char today_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS offsets(topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL, PRIMARY KEY(topic, partition)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS events(event_id TEXT PRIMARY KEY, nik TEXT NOT NULL,"
    "  program TEXT, type INTEGER, status INTEGER NOT NULL, reason TEXT,"
    "  covered_by TEXT, topic TEXT, partition INTEGER, offset INTEGER,"
    "  decided_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS coverage(nik TEXT NOT NULL, program TEXT NOT NULL,"
    "  state INTEGER NOT NULL, start_month INTEGER NOT NULL, end_month INTEGER NOT NULL,"
    "  reg_seq INTEGER NOT NULL, event_id TEXT, updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY(nik, program)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS quota(program TEXT PRIMARY KEY, used INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS ops(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER "
    "NOT NULL,"
    "  nik TEXT NOT NULL, program TEXT NOT NULL, event_id TEXT NOT NULL,"
    "  item BLOB NOT NULL, reg_seq INTEGER, batch_id INTEGER, status INTEGER,"
    "  kpj TEXT, reason TEXT);"
    "CREATE INDEX IF NOT EXISTS ops_unbatched ON ops(seq) WHERE batch_id IS NULL;"
    "CREATE INDEX IF NOT EXISTS ops_batch ON ops(batch_id) WHERE batch_id IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS batches(id INTEGER PRIMARY KEY AUTOINCREMENT, kind "
    "INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, body BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL, last_error TEXT, created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS batches_open ON batches(state, next_at)"
    "  WHERE state IN (1, 2);"
    "CREATE INDEX IF NOT EXISTS batches_bodies ON batches(updated_at)"
    "  WHERE state IN (3, 4, 5) AND length(body) > 0;"
    "CREATE INDEX IF NOT EXISTS events_decided ON events(decided_at);"
    "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT "
    "NOT NULL,"
    "  key BLOB, value BLOB NOT NULL, headers BLOB);"
    "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, detail TEXT);";

enum tst {
        T_BEGIN,
        T_COMMIT,
        T_OFFSET_GET,
        T_OFFSET_SET,
        T_EVENT_SEEN,
        T_EVENT_INSERT,
        T_WORKER,
        T_OP_STATUS,
        T_QUOTA_GET,
        T_QUOTA_ADD,
        T_COVERAGE_TAKE,
        T_COVERAGE_GET,
        T_COVERAGE_END,
        T_OP_INSERT,
        T_OUTBOX_INSERT,
        T_OPS_UNBATCHED,
        T_BATCH_INSERT,
        T_BATCH_BODY,
        T_OP_BATCH,
        T_BATCH_UPDATE,
        T_BATCH_OPS,
        T_OP_RESULT,
        T_COVERAGE_ACTIVATE,
        T_BATCH_FINISH,
        T_OUTBOX_FETCH,
        T_OUTBOX_DELETE,
        T_COUNTER_ADD,
        T_WORKER_EVENTS,
        T_WORKER_COVERAGE,
        T_WORKER_OPS,
        T__COUNT
};

static const char *const today_sql[T__COUNT] = {
    [T_BEGIN] = "BEGIN IMMEDIATE",
    [T_COMMIT] = "COMMIT",
    [T_OFFSET_GET] =
        "SELECT next_offset FROM offsets WHERE topic = ?1 AND partition = ?2",
    [T_OFFSET_SET] =
        "INSERT INTO offsets(topic, partition, next_offset) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(topic, partition) DO UPDATE SET next_offset = ?3",
    [T_EVENT_SEEN] = "SELECT 1 FROM events WHERE event_id = ?1",
    [T_EVENT_INSERT] = "INSERT INTO events(event_id, nik, program, type, status, reason,"
                       " covered_by, topic, partition, offset, decided_at)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [T_WORKER] = "SELECT program, state, reg_seq FROM coverage WHERE nik = ?1",
    [T_OP_STATUS] = "SELECT coalesce(status, 0) FROM ops WHERE seq = ?1",
    [T_QUOTA_GET] = "SELECT used FROM quota WHERE program = ?1",
    [T_QUOTA_ADD] = "INSERT INTO quota(program, used) VALUES(?1, ?2)"
                    " ON CONFLICT(program) DO UPDATE SET used = used + ?2",
    [T_COVERAGE_TAKE] =
        "INSERT INTO coverage(nik, program, state, start_month, end_month,"
        " reg_seq, event_id, updated_at) VALUES(?1, ?2, 1, ?3, ?4, ?5, ?6, ?7)"
        " ON CONFLICT(nik, program) DO UPDATE SET state = 1,"
        " start_month = ?3, end_month = ?4, reg_seq = ?5, event_id = ?6,"
        " updated_at = ?7",
    [T_COVERAGE_GET] = "SELECT reg_seq FROM coverage WHERE nik = ?1 AND program = ?2"
                       " AND state IN (1, 2)",
    [T_COVERAGE_END] = "UPDATE coverage SET state = 3, updated_at = ?3"
                       " WHERE nik = ?1 AND program = ?2",
    [T_OP_INSERT] = "INSERT INTO ops(kind, nik, program, event_id, item, reg_seq)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [T_OUTBOX_INSERT] =
        "INSERT INTO outbox(topic, key, value, headers) VALUES(?1, ?2, ?3, ?4)",
    [T_OPS_UNBATCHED] = "SELECT o.seq, o.kind, o.nik, o.program, o.event_id, o.item,"
                        " o.reg_seq, r.kpj, o.batch_id FROM ops o LEFT JOIN ops r"
                        " ON r.seq = o.reg_seq WHERE o.batch_id IS NULL AND o.seq > ?1"
                        " AND o.kind = ?3 ORDER BY o.seq LIMIT ?2",
    [T_BATCH_INSERT] =
        "INSERT INTO batches(kind, state, body, next_at, created_at, updated_at)"
        " VALUES(?1, 1, x'', ?2, ?2, ?2)",
    [T_BATCH_BODY] = "UPDATE batches SET body = ?2 WHERE id = ?1",
    [T_OP_BATCH] = "UPDATE ops SET batch_id = ?2 WHERE seq = ?1 AND batch_id IS NULL",
    [T_BATCH_UPDATE] =
        "UPDATE batches SET state = ?2, attempts = ?3, next_at = ?4,"
        " last_error = ?5, updated_at = ?6 WHERE id = ?1 AND state IN (1, 2)",
    [T_BATCH_OPS] = "SELECT o.seq, o.kind, o.nik, o.program, o.event_id, o.item,"
                    " o.reg_seq, r.kpj, o.batch_id FROM ops o LEFT JOIN ops r"
                    " ON r.seq = o.reg_seq WHERE o.batch_id = ?1 ORDER BY o.seq",
    [T_OP_RESULT] = "UPDATE ops SET status = ?2, kpj = ?3, reason = ?4 WHERE seq = ?1",
    [T_COVERAGE_ACTIVATE] =
        "UPDATE coverage SET state = 2, updated_at = ?2"
        " WHERE reg_seq = ?1 AND nik = ?3 AND program = ?4 AND state = 1",
    [T_BATCH_FINISH] = "UPDATE batches SET state = ?2, last_error = ?3, updated_at = ?4"
                       " WHERE id = ?1",
    [T_OUTBOX_FETCH] = "SELECT seq, topic, key, value, headers FROM outbox WHERE seq > ?1"
                       " ORDER BY seq LIMIT ?2",
    [T_OUTBOX_DELETE] = "DELETE FROM outbox WHERE seq = ?1",
    [T_COUNTER_ADD] = "INSERT INTO counters(name, value) VALUES(?1, ?2)"
                      " ON CONFLICT(name) DO UPDATE SET value = value + ?2",
    /* bpjs-syncctl worker NIK (daemon/journal/journal_sqlite_ctl.c) */
    [T_WORKER_EVENTS] = "SELECT event_id, nik, program, type, status, reason, covered_by,"
                        " topic, partition, offset, decided_at FROM events WHERE nik = ?1"
                        " ORDER BY decided_at, event_id",
    [T_WORKER_COVERAGE] =
        "SELECT program, state, start_month, end_month, reg_seq, event_id,"
        " updated_at FROM coverage WHERE nik = ?1 ORDER BY program",
    [T_WORKER_OPS] =
        "SELECT o.seq, o.kind, o.program, o.event_id, o.item, o.batch_id,"
        " o.status, o.kpj, o.reason FROM ops o WHERE o.nik = ?1 ORDER BY o.seq",
};

static struct {
        sqlite3 *db;
        sqlite3_stmt *st[T__COUNT];
        int64_t outbox_cursor;
        long long unbatched[2];
} td;

static int prog_index(const char *id)
{
        for (int i = 0; i < NPROG; i++)
                if (id && strcmp(progs[i].id, id) == 0)
                        return i;
        return -1;
}

static void today_fill(void)
{
        sqlite3 *db = open_db(db_path, true);
        sqlite3_stmt *ev, *cov, *op, *bt;
        char nik[17], id[48], item[1024];
        long long quota[NPROG] = {0};

        ex(db, today_schema);
        ev = prep(db, today_sql[T_EVENT_INSERT]);
        cov = prep(
            db, "INSERT INTO coverage(nik, program, state, start_month, end_month,"
                " reg_seq, event_id, updated_at) VALUES(?1, ?2, 2, ?3, ?4, ?5, ?6, ?7)");
        op = prep(db, "INSERT INTO ops(seq, kind, nik, program, event_id, item, batch_id,"
                      " status, kpj) VALUES(?1, 1, ?2, ?3, ?4, ?5, ?6, 1, ?7)");
        bt = prep(db, "INSERT INTO batches(id, kind, state, body, next_at, created_at,"
                      " updated_at) VALUES(?1, 1, 3, x'', 0, 0, 0)");
        ex(db, "BEGIN");
        for (long long k = 0; k < opt.workers; k++) {
                int p = (int)(k % NPROG);
                char kpj[16];
                nik_text(fill_nik(k), nik);
                fill_event_id(k, id, sizeof(id));
                sqlite3_bind_text(ev, 1, id, -1, SQLITE_STATIC);
                sqlite3_bind_text(ev, 2, nik, -1, SQLITE_STATIC);
                sqlite3_bind_text(ev, 3, progs[p].id, -1, SQLITE_STATIC);
                sqlite3_bind_int(ev, 4, T_SUBMIT);
                sqlite3_bind_int(ev, 5, 1);
                sqlite3_bind_text(ev, 8, "bench.fill", -1, SQLITE_STATIC);
                sqlite3_bind_int(ev, 9, 0);
                sqlite3_bind_int64(ev, 10, k);
                sqlite3_bind_int64(ev, 11, 1700000000000LL + k);
                run1(db, ev);
                sqlite3_bind_text(cov, 1, nik, -1, SQLITE_STATIC);
                sqlite3_bind_text(cov, 2, progs[p].id, -1, SQLITE_STATIC);
                sqlite3_bind_int(cov, 3, progs[p].start);
                sqlite3_bind_int(cov, 4, progs[p].end);
                sqlite3_bind_int64(cov, 5, k + 1);
                sqlite3_bind_text(cov, 6, id, -1, SQLITE_STATIC);
                sqlite3_bind_int64(cov, 7, 1700000000000LL + k);
                run1(db, cov);
                /* the op as pruning leaves it: the item cut to NIK, programme and
                 * period, the outcome and the kpj in columns */
                int n =
                    snprintf(item, sizeof(item),
                             "{\"nik\":\"%s\",\"program\":\"%s\",\"period\":{\"start\":"
                             "\"2025-01\",\"end\":\"2025-12\"}}",
                             nik, progs[p].id);
                snprintf(kpj, sizeof(kpj), "%011lld", k);
                sqlite3_bind_int64(op, 1, k + 1);
                sqlite3_bind_text(op, 2, nik, -1, SQLITE_STATIC);
                sqlite3_bind_text(op, 3, progs[p].id, -1, SQLITE_STATIC);
                sqlite3_bind_text(op, 4, id, -1, SQLITE_STATIC);
                sqlite3_bind_blob(op, 5, item, n, SQLITE_STATIC);
                sqlite3_bind_int64(op, 6, k / PUSH_AT + 1);
                sqlite3_bind_text(op, 7, kpj, -1, SQLITE_STATIC);
                run1(db, op);
                if (k % PUSH_AT == 0) {
                        sqlite3_bind_int64(bt, 1, k / PUSH_AT + 1);
                        run1(db, bt);
                }
                quota[p]++;
                if (k % 200000 == 199999) {
                        ex(db, "COMMIT");
                        ex(db, "BEGIN");
                }
        }
        for (int p = 0; p < NPROG; p++) {
                char sql[256];
                snprintf(sql, sizeof(sql), "INSERT INTO quota VALUES('%s', %lld)",
                         progs[p].id, quota[p]);
                ex(db, sql);
        }
        ex(db, "INSERT INTO meta VALUES('journal_id', 'bench-layout')");
        ex(db, "COMMIT");
        sqlite3_finalize(ev);
        sqlite3_finalize(cov);
        sqlite3_finalize(op);
        sqlite3_finalize(bt);
        sqlite3_close(db);
}

static sqlite3_stmt *tu(enum tst i)
{
        return td.st[i];
}

static void tbind_text(enum tst i, int col, const char *s)
{
        if (s)
                sqlite3_bind_text(td.st[i], col, s, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(td.st[i], col);
}

static void today_open(void)
{
        td.db = open_db(db_path, false);
        ex(td.db, today_schema);
        for (int i = 0; i < T__COUNT; i++)
                td.st[i] = prep(td.db, today_sql[i]);
}

static void today_close(void)
{
        for (int i = 0; i < T__COUNT; i++)
                sqlite3_finalize(td.st[i]);
        sqlite3_close(td.db);
}

static void today_outbox(const char *topic, const char *key, const char *value,
                         size_t len, const char *headers)
{
        tbind_text(T_OUTBOX_INSERT, 1, topic);
        if (key)
                sqlite3_bind_blob(tu(T_OUTBOX_INSERT), 2, key, (int)strlen(key),
                                  SQLITE_TRANSIENT);
        sqlite3_bind_blob(tu(T_OUTBOX_INSERT), 3, value, (int)len, SQLITE_TRANSIENT);
        if (headers)
                sqlite3_bind_blob(tu(T_OUTBOX_INSERT), 4, headers, (int)strlen(headers),
                                  SQLITE_TRANSIENT);
        run1(td.db, tu(T_OUTBOX_INSERT));
}

static void today_read_worker(const char *nik, struct wstate *w)
{
        sqlite3_stmt *s = tu(T_WORKER);
        memset(w, 0, sizeof(*w));
        tbind_text(T_WORKER, 1, nik);
        while (step(td.db, s) == SQLITE_ROW) {
                int p = prog_index((const char *)sqlite3_column_text(s, 0));
                if (p < 0 || w->ncov == MAXCOV)
                        die("coverage row of an unknown programme");
                w->cov[w->ncov++] =
                    (struct cov){(uint8_t)p, (uint8_t)sqlite3_column_int(s, 1),
                                 sqlite3_column_int64(s, 2)};
        }
        sqlite3_reset(s);
}

static void today_take(const struct event *e, int64_t now)
{
        char nik[17] = "", item[1024], value[1024], offs_topic[] = "enrollment.events";
        struct wstate w;
        enum dec d;
        int cb, rc;
        int64_t next = -1;
        size_t len;

        sqlite3_stmt *s = tu(T_OFFSET_GET);
        tbind_text(T_OFFSET_GET, 1, offs_topic);
        sqlite3_bind_int(s, 2, e->partition);
        if (step(td.db, s) == SQLITE_ROW)
                next = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (e->offset < next)
                return;

        s = tu(T_EVENT_SEEN);
        tbind_text(T_EVENT_SEEN, 1, e->id);
        rc = step(td.db, s);
        sqlite3_reset(s);
        if (rc == SQLITE_ROW) {
                d = D_REDELIVERED;
                goto offset;
        }
        if (e->nik) {
                nik_text(e->nik, nik);
                today_read_worker(nik, &w);
                s = tu(T_QUOTA_GET);
                tbind_text(T_QUOTA_GET, 1, progs[e->prog].id);
                step(td.db, s);
                sqlite3_reset(s);
        } else {
                memset(&w, 0, sizeof(w));
        }
        /* the op's seq: the next rowid of ops (decide needs it for the model's
         * comparison only; the coverage row takes the real one) */
        d = decide(e, &w, 0, &cb);
        len = make_result(e, d, NULL, value, sizeof(value));

        s = tu(T_EVENT_INSERT);
        tbind_text(T_EVENT_INSERT, 1, e->id);
        tbind_text(T_EVENT_INSERT, 2, nik);
        tbind_text(T_EVENT_INSERT, 3, progs[e->prog].id);
        sqlite3_bind_int(s, 4, e->type);
        sqlite3_bind_int(s, 5, d);
        tbind_text(T_EVENT_INSERT, 6, d == D_REJECTED ? "invalid_nik" : NULL);
        tbind_text(T_EVENT_INSERT, 7, cb >= 0 ? progs[cb].id : NULL);
        tbind_text(T_EVENT_INSERT, 8, offs_topic);
        sqlite3_bind_int(s, 9, e->partition);
        sqlite3_bind_int64(s, 10, e->offset);
        sqlite3_bind_int64(s, 11, now);
        run1(td.db, s);

        if (d == D_REGISTER || d == D_DEACTIVATE) {
                int64_t reg_seq = 0;
                size_t ilen = make_item(e, d, item, sizeof(item));
                if (d == D_DEACTIVATE) {
                        s = tu(T_COVERAGE_GET);
                        tbind_text(T_COVERAGE_GET, 1, nik);
                        tbind_text(T_COVERAGE_GET, 2, progs[e->prog].id);
                        if (step(td.db, s) == SQLITE_ROW)
                                reg_seq = sqlite3_column_int64(s, 0);
                        sqlite3_reset(s);
                        s = tu(T_COVERAGE_END);
                        tbind_text(T_COVERAGE_END, 1, nik);
                        tbind_text(T_COVERAGE_END, 2, progs[e->prog].id);
                        sqlite3_bind_int64(s, 3, now);
                        run1(td.db, s);
                        s = tu(T_QUOTA_ADD);
                        tbind_text(T_QUOTA_ADD, 1, progs[e->prog].id);
                        sqlite3_bind_int(s, 2, -1);
                        run1(td.db, s);
                }
                s = tu(T_OP_INSERT);
                sqlite3_bind_int(s, 1, d == D_REGISTER ? 1 : 2);
                tbind_text(T_OP_INSERT, 2, nik);
                tbind_text(T_OP_INSERT, 3, progs[e->prog].id);
                tbind_text(T_OP_INSERT, 4, e->id);
                sqlite3_bind_blob(s, 5, item, (int)ilen, SQLITE_TRANSIENT);
                if (reg_seq)
                        sqlite3_bind_int64(s, 6, reg_seq);
                run1(td.db, s);
                td.unbatched[d == D_REGISTER ? 0 : 1]++;
                if (d == D_REGISTER) {
                        int64_t seq = sqlite3_last_insert_rowid(td.db);
                        s = tu(T_COVERAGE_TAKE);
                        tbind_text(T_COVERAGE_TAKE, 1, nik);
                        tbind_text(T_COVERAGE_TAKE, 2, progs[e->prog].id);
                        sqlite3_bind_int(s, 3, progs[e->prog].start);
                        sqlite3_bind_int(s, 4, progs[e->prog].end);
                        sqlite3_bind_int64(s, 5, seq);
                        tbind_text(T_COVERAGE_TAKE, 6, e->id);
                        sqlite3_bind_int64(s, 7, now);
                        run1(td.db, s);
                        s = tu(T_QUOTA_ADD);
                        tbind_text(T_QUOTA_ADD, 1, progs[e->prog].id);
                        sqlite3_bind_int(s, 2, 1);
                        run1(td.db, s);
                }
        }
        today_outbox("enrollment.results", e->nik ? nik : "key", value, len, NULL);
        if (d == D_REJECTED) /* the dead letter: the raw message with its headers */
                today_outbox(
                    "enrollment.dlq", "key", item,
                    make_item(e, D_REGISTER, item, sizeof(item)),
                    "reason=invalid_nik;field=worker.nik;topic=enrollment.events");
offset:
        s = tu(T_OFFSET_SET);
        tbind_text(T_OFFSET_SET, 1, offs_topic);
        sqlite3_bind_int(s, 2, e->partition);
        sqlite3_bind_int64(s, 3, e->offset + 1);
        run1(td.db, s);
        counts[d]++;
        check_decision(e, d);
}

/* publish: fetch what the outbox holds, "send" it, delete it row by row */
static void today_publish(void)
{
        int64_t seqs[5000];
        size_t n;

        do {
                sqlite3_stmt *s = tu(T_OUTBOX_FETCH);
                n = 0;
                sqlite3_bind_int64(s, 1, td.outbox_cursor);
                sqlite3_bind_int64(s, 2, 5000);
                while (step(td.db, s) == SQLITE_ROW)
                        seqs[n++] = sqlite3_column_int64(s, 0);
                sqlite3_reset(s);
                if (!n)
                        return;
                td.outbox_cursor = seqs[n - 1];
                run1(td.db, tu(T_BEGIN));
                for (size_t i = 0; i < n; i++) {
                        sqlite3_bind_int64(tu(T_OUTBOX_DELETE), 1, seqs[i]);
                        run1(td.db, tu(T_OUTBOX_DELETE));
                }
                tbind_text(T_COUNTER_ADD, 1, "published");
                sqlite3_bind_int64(tu(T_COUNTER_ADD), 2, (int64_t)n);
                run1(td.db, tu(T_COUNTER_ADD));
                run1(td.db, tu(T_COMMIT));
        } while (n == 5000);
}

/* push: batches of PUSH_AT ops of a kind, created, in flight, answered */
static void today_push(int kind, bool all)
{
        while (td.unbatched[kind - 1] >= PUSH_AT || (all && td.unbatched[kind - 1] > 0)) {
                struct buf body = {0};
                int64_t seqs[PUSH_AT], id;
                int n = 0;
                sqlite3_stmt *s = tu(T_OPS_UNBATCHED);

                sqlite3_bind_int64(s, 1, 0);
                sqlite3_bind_int64(s, 2, PUSH_AT);
                sqlite3_bind_int(s, 3, kind);
                buf_put(&body, "{\"batch_id\":\"bench-layout-0000000001\",\"items\":[",
                        48);
                while (step(td.db, s) == SQLITE_ROW) {
                        seqs[n] = sqlite3_column_int64(s, 0);
                        if (n++)
                                buf_u8(&body, ',');
                        buf_put(&body, sqlite3_column_blob(s, 5),
                                (size_t)sqlite3_column_bytes(s, 5));
                }
                sqlite3_reset(s);
                buf_put(&body, "]}", 2);
                td.unbatched[kind - 1] -= n;
                if (!n)
                        die("unbatched ops counted but not found");
                /* journal_batch_create */
                run1(td.db, tu(T_BEGIN));
                s = tu(T_BATCH_INSERT);
                sqlite3_bind_int(s, 1, kind);
                sqlite3_bind_int64(s, 2, 1);
                run1(td.db, s);
                id = sqlite3_last_insert_rowid(td.db);
                s = tu(T_BATCH_BODY);
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_blob(s, 2, body.p, (int)body.n, SQLITE_STATIC);
                run1(td.db, s);
                for (int i = 0; i < n; i++) {
                        sqlite3_bind_int64(tu(T_OP_BATCH), 1, seqs[i]);
                        sqlite3_bind_int64(tu(T_OP_BATCH), 2, id);
                        run1(td.db, tu(T_OP_BATCH));
                }
                run1(td.db, tu(T_COMMIT));
                free(body.p);
                /* in flight (its own autocommit) */
                s = tu(T_BATCH_UPDATE);
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_int(s, 2, 2);
                sqlite3_bind_int64(s, 3, 1);
                sqlite3_bind_int64(s, 4, 2);
                sqlite3_bind_int64(s, 6, 2);
                run1(td.db, s);
                /* journal_batch_finish: every op registered (or deactivated) */
                run1(td.db, tu(T_BEGIN));
                s = tu(T_BATCH_OPS);
                sqlite3_bind_int64(s, 1, id);
                while (step(td.db, s) == SQLITE_ROW) {
                        int64_t seq = sqlite3_column_int64(s, 0);
                        char nik[17], program[32], event_id[48], kpj[16], value[1024];
                        struct event e = {0};
                        snprintf(nik, sizeof(nik), "%s",
                                 (const char *)sqlite3_column_text(s, 2));
                        snprintf(program, sizeof(program), "%s",
                                 (const char *)sqlite3_column_text(s, 3));
                        snprintf(event_id, sizeof(event_id), "%s",
                                 (const char *)sqlite3_column_text(s, 4));
                        snprintf(kpj, sizeof(kpj), "%011lld", (long long)seq);
                        sqlite3_bind_int64(tu(T_OP_RESULT), 1, seq);
                        sqlite3_bind_int(tu(T_OP_RESULT), 2, 1);
                        tbind_text(T_OP_RESULT, 3, kind == 1 ? kpj : NULL);
                        run1(td.db, tu(T_OP_RESULT));
                        if (kind == 1 && !opt.coverage_once) {
                                sqlite3_stmt *a = tu(T_COVERAGE_ACTIVATE);
                                sqlite3_bind_int64(a, 1, seq);
                                sqlite3_bind_int64(a, 2, 3);
                                tbind_text(T_COVERAGE_ACTIVATE, 3, nik);
                                tbind_text(T_COVERAGE_ACTIVATE, 4, program);
                                run1(td.db, a);
                        }
                        snprintf(e.id, sizeof(e.id), "%s", event_id);
                        e.nik = strtoll(nik, NULL, 10);
                        e.prog = (uint8_t)prog_index(program);
                        size_t len =
                            make_result(&e, kind == 1 ? D_REGISTER : D_DEACTIVATE,
                                        kind == 1 ? kpj : NULL, value, sizeof(value));
                        today_outbox("enrollment.results", nik, value, len, NULL);
                }
                sqlite3_reset(s);
                s = tu(T_BATCH_FINISH);
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_int(s, 2, 3);
                sqlite3_bind_int64(s, 4, 4);
                run1(td.db, s);
                run1(td.db, tu(T_COMMIT));
                today_publish();
        }
}

static void today_batch(const struct event *evs, int n)
{
        int64_t now = 1750000000000LL;
        run1(td.db, tu(T_BEGIN));
        for (int i = 0; i < n; i++)
                today_take(&evs[i], now);
        tbind_text(T_COUNTER_ADD, 1, "consumed");
        sqlite3_bind_int64(tu(T_COUNTER_ADD), 2, n);
        run1(td.db, tu(T_COUNTER_ADD));
        run1(td.db, tu(T_COMMIT));
        today_publish();
        today_push(1, false);
        today_push(2, false);
}

static void today_flush(void)
{
        today_push(1, true);
        today_push(2, true);
}

static long long today_history(int64_t nik)
{
        char text[17];
        long long rows = 0;
        enum tst q[] = {T_WORKER_EVENTS, T_WORKER_COVERAGE, T_WORKER_OPS};
        nik_text(nik, text);
        for (int i = 0; i < 3; i++) {
                tbind_text(q[i], 1, text);
                while (step(td.db, tu(q[i])) == SQLITE_ROW)
                        rows++;
                sqlite3_reset(tu(q[i]));
        }
        return rows;
}

/* ======================= layout: log ======================= */

static const char workers_schema[] =
    "CREATE TABLE IF NOT EXISTS workers(nik INTEGER PRIMARY KEY, state BLOB NOT NULL)";

static const char log_schema[] =
    "CREATE TABLE IF NOT EXISTS log(seq INTEGER PRIMARY KEY, body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS bodies(id INTEGER PRIMARY KEY, body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS bad_events(event_id TEXT PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    "  WITHOUT ROWID;";

enum { ROW_EVENTS = 1, ROW_ANSWERS = 2 };

/* An event id of the form portal:YYYY-MM-DD:digits with a known portal
 * takes 1 + 2 + a varint; any other is kept as it is. */
static void id_encode(struct buf *b, const char *id)
{
        for (int p = 0; p < NPORTAL; p++) {
                size_t pl = strlen(portals[p]);
                int y, m, d, used = 0;
                const char *digits;
                if (strncmp(id, portals[p], pl) || id[pl] != ':')
                        continue;
                if (sscanf(id + pl + 1, "%4d-%2d-%2d:%n", &y, &m, &d, &used) != 3 ||
                    used != 11)
                        break;
                digits = id + pl + 12;
                size_t nd = strlen(digits);
                if (nd < 1 || nd > 15 || strspn(digits, "0123456789") != nd || y < 2000 ||
                    y > 2127)
                        break;
                buf_u8(b, (unsigned)(p << 4 | nd));
                unsigned date = (unsigned)((y - 2000) << 9 | m << 5 | d);
                buf_u8(b, date & 0xff);
                buf_u8(b, date >> 8);
                buf_uv(b, strtoull(digits, NULL, 10));
                return;
        }
        size_t n = strlen(id);
        buf_u8(b, 0xff);
        buf_u8(b, (unsigned)n);
        buf_put(b, id, n);
}

static void id_decode(struct rd *r, char *out, size_t size)
{
        unsigned tag = rd_u8(r);
        if (tag == 0xff) {
                unsigned n = rd_u8(r);
                const uint8_t *p = rd_bytes(r, n);
                snprintf(out, size, "%.*s", (int)n, (const char *)p);
                return;
        }
        unsigned lo = rd_u8(r), hi = rd_u8(r), date = lo | hi << 8;
        uint64_t v = rd_uv(r);
        if ((tag >> 4) >= (unsigned)NPORTAL)
                die("log record: bad event id tag");
        snprintf(out, size, "%s:%04u-%02u-%02u:%0*" PRIu64, portals[tag >> 4],
                 2000 + (date >> 9), (date >> 5) & 15, date & 31, (int)(tag & 15), v);
}

static void state_encode(struct buf *b, const struct wstate *w)
{
        buf_u8(b, (unsigned)w->ncov);
        for (int i = 0; i < w->ncov; i++) {
                buf_u8(b, (unsigned)(w->cov[i].prog << 4 | w->cov[i].st));
                buf_uv(b, (uint64_t)w->cov[i].reg);
        }
        buf_u8(b, (unsigned)w->nids);
        for (int i = 0; i < w->nids; i++) {
                id_encode(b, w->ids[i].id);
                buf_uv(b, (uint64_t)w->ids[i].seq);
        }
}

static void state_decode(const uint8_t *p, size_t n, struct wstate *w)
{
        struct rd r = {p, p + n};
        memset(w, 0, sizeof(*w));
        w->ncov = (int)rd_u8(&r);
        if (w->ncov > MAXCOV)
                die("worker state: %d coverages", w->ncov);
        for (int i = 0; i < w->ncov; i++) {
                unsigned c = rd_u8(&r);
                w->cov[i].prog = (uint8_t)(c >> 4);
                w->cov[i].st = (uint8_t)(c & 15);
                w->cov[i].reg = (int64_t)rd_uv(&r);
        }
        w->nids = (int)rd_u8(&r);
        if (w->nids > MAXIDS)
                die("worker state: %d event ids", w->nids);
        for (int i = 0; i < w->nids; i++) {
                id_decode(&r, w->ids[i].id, sizeof(w->ids[i].id));
                w->ids[i].seq = (int64_t)rd_uv(&r);
        }
}

/* the delta: NIK -> encoded state (a length byte, then the state) */
struct dslot {
        int64_t nik;
        uint8_t *st;
};

struct delta {
        struct dslot *s;
        size_t cap, n, bytes;
};

static struct dslot *delta_find(struct delta *m, int64_t nik, bool add)
{
        if (add && (m->n + 1) * 2 > m->cap) {
                struct delta g = {calloc(m->cap ? m->cap * 2 : 4096, sizeof(*m->s)),
                                  m->cap ? m->cap * 2 : 4096, 0, m->bytes};
                if (!g.s)
                        die("out of memory");
                for (size_t i = 0; i < m->cap; i++)
                        if (m->s[i].nik)
                                *delta_find(&g, m->s[i].nik, true) = m->s[i];
                free(m->s);
                *m = g;
        }
        if (!m->cap)
                return NULL;
        for (size_t i = map_hash(nik) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                if (m->s[i].nik == nik)
                        return &m->s[i];
                if (!m->s[i].nik) {
                        if (!add)
                                return NULL;
                        m->s[i].nik = nik;
                        m->n++;
                        return &m->s[i];
                }
        }
}

static void delta_put(struct delta *m, int64_t nik, const struct wstate *w)
{
        struct buf b = {0};
        struct dslot *s;

        buf_u8(&b, 0);
        state_encode(&b, w);
        if (b.n > 256)
                die("worker state of %zu bytes", b.n);
        b.p[0] = (uint8_t)(b.n - 1);
        s = delta_find(m, nik, true);
        if (s->st)
                m->bytes -= (size_t)s->st[0] + 1;
        free(s->st);
        s->st = xrealloc(b.p, b.n);
        m->bytes += b.n;
}

static void delta_clear(struct delta *m)
{
        for (size_t i = 0; i < m->cap; i++)
                free(m->s[i].st);
        free(m->s);
        memset(m, 0, sizeof(*m));
}

struct job {
        struct buf rows[4]; /* answers row, events row, bodies */
        int64_t seq[4];
        int table[4]; /* 0 log, 1 bodies */
        int n;
        int64_t merged_seq; /* >0: also set meta merged_seq */
};

static struct {
        sqlite3 *db, *rdb; /* writer; reader (group commit) */
        sqlite3_stmt *log_ins, *body_ins, *wget, *wget_r, *bad_get, *bad_get_r, *wput,
            *bad_put, *meta_set, *log_get;
        struct delta delta;
        char **bad; /* ids of events without a valid NIK, not merged yet */
        size_t nbad, badcap;
        long long delta_events, merges, merged_events;
        long long merge_wchar, merge_write_bytes;
        double merge_s;
        int64_t seq, body_id, reg, merged_seq, published;
        int64_t offsets[NPART];
        long long quota[NPROG];
        struct {
                int64_t nik, reg;
                uint8_t prog, kind;
                char *item;
                size_t len;
        } * pending;
        size_t npending, pcap;
        struct buf answers; /* the answers row being formed */
        long long nanswers;
        int64_t answered_bodies[64];
        int nanswered;
        /* group commit */
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct job *job; /* in flight */
        bool stop;
} lg;

static void log_prepare(void)
{
        lg.log_ins = prep(lg.db, "INSERT INTO log(seq, body) VALUES(?1, ?2)");
        lg.body_ins = prep(lg.db, "INSERT INTO bodies(id, body) VALUES(?1, ?2)");
        /* runs: the table `workers` is the first base, dropped by the first
         * merge into the base */
        if (!opt.state_runs) {
                lg.wget = prep(lg.db, "SELECT state FROM workers WHERE nik = ?1");
                lg.wput = prep(
                    lg.db, "INSERT OR REPLACE INTO workers(nik, state) VALUES(?1, ?2)");
        }
        lg.bad_get = prep(lg.db, "SELECT 1 FROM bad_events WHERE event_id = ?1");
        lg.bad_put = prep(lg.db, "INSERT OR IGNORE INTO bad_events(event_id) VALUES(?1)");
        lg.meta_set =
            prep(lg.db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)");
        lg.log_get = prep(lg.db, "SELECT body FROM log WHERE seq = ?1");
        lg.wget_r = lg.wget;
        lg.bad_get_r = lg.bad_get;
        if (opt.group_commit) {
                if (sqlite3_open_v2(db_path, &lg.rdb, SQLITE_OPEN_READWRITE, NULL))
                        die("%s: cannot open a reader", db_path);
                sqlite3_busy_timeout(lg.rdb, 60000);
                ex(lg.rdb, "PRAGMA cache_size=-4096");
                lg.wget_r = opt.state_runs ? NULL
                                           : prep(lg.rdb, "SELECT state FROM workers "
                                                          "WHERE nik = ?1");
                lg.bad_get_r =
                    prep(lg.rdb, "SELECT 1 FROM bad_events WHERE event_id = ?1");
        }
}

static void log_finalize(void)
{
        sqlite3_stmt *all[] = {lg.log_ins, lg.body_ins, lg.wget,     lg.bad_get,
                               lg.wput,    lg.bad_put,  lg.meta_set, lg.log_get};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
                sqlite3_finalize(all[i]);
        if (lg.rdb) {
                sqlite3_finalize(lg.wget_r);
                sqlite3_finalize(lg.bad_get_r);
                sqlite3_close(lg.rdb);
                lg.rdb = NULL;
        }
        sqlite3_close(lg.db);
        lg.db = NULL;
}

static void log_fill(void)
{
        sqlite3 *db = open_db(db_path, true);
        sqlite3_stmt *s;
        struct wstate w;

        ex(db, log_schema);
        ex(db, workers_schema);
        if (opt.state_runs)
                runs_fill(db, opt.workers);
        s = prep(db, "INSERT INTO workers(nik, state) VALUES(?1, ?2)");
        ex(db, "BEGIN");
        for (long long k = 0; k < opt.workers; k++) {
                struct buf b = {0};
                fill_state(k, &w);
                state_encode(&b, &w);
                sqlite3_bind_int64(s, 1, fill_nik(k));
                sqlite3_bind_blob(s, 2, b.p, (int)b.n, SQLITE_TRANSIENT);
                run1(db, s);
                free(b.p);
                if (k % 500000 == 499999) {
                        ex(db, "COMMIT");
                        ex(db, "BEGIN");
                }
        }
        ex(db, "INSERT INTO meta VALUES('merged_seq', 0)");
        ex(db, "COMMIT");
        sqlite3_finalize(s);
        sqlite3_close(db);
}

/* the worker's state: the delta's, or the table's */
static void log_worker(int64_t nik, struct wstate *w)
{
        struct dslot *d = lg.delta.cap ? delta_find(&lg.delta, nik, false) : NULL;
        sqlite3_stmt *s = lg.wget_r;

        if (d) {
                state_decode(d->st + 1, d->st[0], w);
                return;
        }
        if (opt.state_runs) {
                uint8_t st[256];
                int n = runs_get(nik, st);
                if (n >= 0)
                        state_decode(st, (size_t)n, w);
                else
                        memset(w, 0, sizeof(*w));
                return;
        }
        sqlite3_bind_int64(s, 1, nik);
        if (step(lg.rdb ? lg.rdb : lg.db, s) == SQLITE_ROW)
                state_decode(sqlite3_column_blob(s, 0),
                             (size_t)sqlite3_column_bytes(s, 0), w);
        else
                memset(w, 0, sizeof(*w));
        sqlite3_reset(s);
}

static bool log_bad_seen(const char *id)
{
        int rc;
        for (size_t i = 0; i < lg.nbad; i++) /* few: about 3% of a delta */
                if (strcmp(lg.bad[i], id) == 0)
                        return true;
        sqlite3_bind_text(lg.bad_get_r, 1, id, -1, SQLITE_STATIC);
        rc = step(lg.rdb ? lg.rdb : lg.db, lg.bad_get_r);
        sqlite3_reset(lg.bad_get_r);
        return rc == SQLITE_ROW;
}

static void log_bad_add(const char *id)
{
        if (lg.nbad == lg.badcap) {
                lg.badcap = lg.badcap ? lg.badcap * 2 : 1024;
                lg.bad = xrealloc(lg.bad, lg.badcap * sizeof(*lg.bad));
        }
        lg.bad[lg.nbad++] = strdup(id);
}

static sqlite3_stmt *st_begin, *st_commit;

static void job_run(struct job *j)
{
        run1(lg.db, st_begin);
        for (int i = 0; i < j->n; i++) {
                sqlite3_stmt *s = j->table[i] ? lg.body_ins : lg.log_ins;
                sqlite3_bind_int64(s, 1, j->seq[i]);
                sqlite3_bind_blob(s, 2, j->rows[i].p, (int)j->rows[i].n, SQLITE_STATIC);
                run1(lg.db, s);
        }
        run1(lg.db, st_commit);
}

static void job_free(struct job *j)
{
        for (int i = 0; i < 4; i++)
                free(j->rows[i].p);
        free(j);
}

static void *writer(void *arg)
{
        (void)arg;
        pthread_mutex_lock(&lg.mu);
        for (;;) {
                while (!lg.job && !lg.stop)
                        pthread_cond_wait(&lg.cv, &lg.mu);
                if (!lg.job)
                        break;
                struct job *j = lg.job;
                pthread_mutex_unlock(&lg.mu);
                job_run(j);
                pthread_mutex_lock(&lg.mu);
                job_free(j);
                lg.job = NULL;
                pthread_cond_broadcast(&lg.cv);
        }
        pthread_mutex_unlock(&lg.mu);
        return NULL;
}

/* waits until no commit is in flight: what was handed over is durable */
static void writer_drain(void)
{
        if (!opt.group_commit)
                return;
        pthread_mutex_lock(&lg.mu);
        while (lg.job)
                pthread_cond_wait(&lg.cv, &lg.mu);
        pthread_mutex_unlock(&lg.mu);
}

static void submit(struct job *j)
{
        if (!opt.group_commit) {
                job_run(j);
                job_free(j);
                return;
        }
        writer_drain();
        pthread_mutex_lock(&lg.mu);
        lg.job = j;
        pthread_cond_broadcast(&lg.cv);
        pthread_mutex_unlock(&lg.mu);
}

static int cmp_slot(const void *a, const void *b)
{
        int64_t x = ((const struct dslot *)a)->nik, y = ((const struct dslot *)b)->nik;
        return x < y ? -1 : x > y;
}

static void log_merge(void)
{
        struct dslot *all;
        size_t n = 0;
        double t0 = now_s();
        char key[] = "merged_seq";
        struct io io0;

        writer_drain();
        io0 = io_now();
        all = xmalloc(lg.delta.n * sizeof(*all));
        for (size_t i = 0; i < lg.delta.cap; i++)
                if (lg.delta.s[i].nik)
                        all[n++] = lg.delta.s[i];
        /* NIK order: the rows land on the table's pages in one sorted pass */
        qsort(all, n, sizeof(*all), cmp_slot);
        if (n && !strcmp(opt.fault, "merge-drops-a-worker"))
                memmove(&all[n / 2], &all[n / 2 + 1], (n - n / 2 - 1) * sizeof(*all)),
                    n--;
        run1(lg.db, st_begin);
        if (opt.state_runs) {
                int64_t *niks = xmalloc(n * sizeof(*niks));
                uint8_t **sts = xmalloc(n * sizeof(*sts));
                for (size_t i = 0; i < n; i++) {
                        niks[i] = all[i].nik;
                        sts[i] = all[i].st;
                }
                runs_append(niks, sts, n);
                free(niks);
                free(sts);
        }
        for (size_t i = 0; !opt.state_runs && i < n; i++) {
                sqlite3_bind_int64(lg.wput, 1, all[i].nik);
                sqlite3_bind_blob(lg.wput, 2, all[i].st + 1, all[i].st[0], SQLITE_STATIC);
                run1(lg.db, lg.wput);
        }
        for (size_t i = 0; i < lg.nbad; i++) {
                sqlite3_bind_text(lg.bad_put, 1, lg.bad[i], -1, SQLITE_STATIC);
                run1(lg.db, lg.bad_put);
                free(lg.bad[i]);
        }
        lg.nbad = 0;
        sqlite3_bind_text(lg.meta_set, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(lg.meta_set, 2, lg.seq);
        run1(lg.db, lg.meta_set);
        run1(lg.db, st_commit);
        if (opt.state_runs)
                runs_compact();
        /* the merge's pages written twice in WAL mode: count the second here */
        if (opt.wal)
                ex(lg.db, "PRAGMA wal_checkpoint(PASSIVE)");
        struct io io1 = io_now();
        lg.merge_wchar += io1.wchar - io0.wchar;
        lg.merge_write_bytes += io1.write_bytes - io0.write_bytes;
        lg.merged_events += lg.delta_events;
        lg.merged_seq = lg.seq;
        free(all);
        delta_clear(&lg.delta);
        lg.delta_events = 0;
        lg.merges++;
        lg.merge_s += now_s() - t0;
}

static struct {
        int64_t nik, reg;
        uint8_t prog, kind;
        long long job;
} * sent;
static size_t nsent, sentcap;
static long long jobs;

/* the bodies made durable by job `through` and before are sent and answered:
 * every registration registered, every deactivation done */
static void answer_sent(long long through)
{
        size_t keep = 0;
        for (size_t i = 0; i < nsent; i++) {
                struct wstate w;
                char kpj[16], value[1024];
                struct event e = {0};
                if (sent[i].job > through) {
                        sent[keep++] = sent[i];
                        continue;
                }
                if (!lg.answers.n) {
                        buf_u8(&lg.answers, ROW_ANSWERS);
                        lg.nanswers = 0;
                }
                snprintf(kpj, sizeof(kpj), "%011lld", (long long)sent[i].reg);
                buf_i64(&lg.answers, sent[i].nik);
                buf_u8(&lg.answers, (unsigned)(sent[i].prog << 4 | sent[i].kind));
                buf_uv(&lg.answers, (uint64_t)sent[i].reg);
                buf_put(&lg.answers, kpj, 11);
                lg.nanswers++;
                if (sent[i].kind == 1) {
                        log_worker(sent[i].nik, &w);
                        settle(&w, sent[i].prog, sent[i].reg);
                        delta_put(&lg.delta, sent[i].nik, &w);
                }
                /* the final result, published from the answer */
                e.nik = sent[i].nik;
                e.prog = sent[i].prog;
                snprintf(e.id, sizeof(e.id), "op-%lld", (long long)sent[i].reg);
                make_result(&e, sent[i].kind == 1 ? D_REGISTER : D_DEACTIVATE,
                            sent[i].kind == 1 ? kpj : NULL, value, sizeof(value));
        }
        nsent = keep;
}

/* bodies of PUSH_AT pending ops of a kind (all of them at the end) */
static void make_bodies(struct job *j, bool all)
{
        for (int kind = 1; kind <= 2; kind++) {
                size_t n = 0;
                for (size_t i = 0; i < lg.npending; i++)
                        n += lg.pending[i].kind == kind;
                while (n >= PUSH_AT || (all && n > 0)) {
                        struct buf body = {0};
                        size_t take = n < PUSH_AT ? n : PUSH_AT, done = 0, keep = 0;
                        char head[64];
                        int hl =
                            snprintf(head, sizeof(head),
                                     "{\"batch_id\":\"bench-layout-%010lld\",\"items\":[",
                                     (long long)lg.body_id + 1);
                        buf_put(&body, head, (size_t)hl);
                        for (size_t i = 0; i < lg.npending; i++) {
                                if (lg.pending[i].kind != kind || done == take) {
                                        lg.pending[keep++] = lg.pending[i];
                                        continue;
                                }
                                if (done++)
                                        buf_u8(&body, ',');
                                buf_put(&body, lg.pending[i].item, lg.pending[i].len);
                                free(lg.pending[i].item);
                                if (nsent == sentcap) {
                                        sentcap = sentcap ? sentcap * 2 : 4096;
                                        sent = xrealloc(sent, sentcap * sizeof(*sent));
                                }
                                sent[nsent].nik = lg.pending[i].nik;
                                sent[nsent].reg = lg.pending[i].reg;
                                sent[nsent].prog = lg.pending[i].prog;
                                sent[nsent].kind = lg.pending[i].kind;
                                sent[nsent++].job = jobs;
                        }
                        lg.npending = keep;
                        buf_put(&body, "]}", 2);
                        lg.body_id++;
                        if (opt.bodies_stored && j->n < 4) {
                                j->table[j->n] = 1;
                                j->seq[j->n] = lg.body_id;
                                j->rows[j->n++] = body;
                        } else {
                                free(body.p); /* derived: rebuilt from the log's items */
                        }
                        n -= take;
                }
        }
}

static void row_header(struct buf *b, long long nrec)
{
        buf_u8(b, ROW_EVENTS);
        buf_uv(b, (uint64_t)nrec);
        buf_u8(b, NPART);
        for (int p = 0; p < NPART; p++)
                buf_uv(b, (uint64_t)lg.offsets[p]);
        buf_uv(b, (uint64_t)lg.published);
        buf_uv(b, (uint64_t)lg.reg);
        for (int p = 0; p < NPROG; p++)
                buf_uv(b, (uint64_t)lg.quota[p]);
}

/* hands job over (answers row first, then the events row, then bodies) */
static void log_commit(struct buf *events, bool all)
{
        struct job *j = calloc(1, sizeof(*j));
        if (!j)
                die("out of memory");
        if (lg.answers.n) {
                j->seq[j->n] = ++lg.seq;
                j->rows[j->n++] = lg.answers;
                memset(&lg.answers, 0, sizeof(lg.answers));
        }
        if (events && events->n) {
                j->seq[j->n] = ++lg.seq;
                j->rows[j->n++] = *events;
                lg.published = lg.seq; /* in the next row: published through here */
        } else if (events) {
                free(events->p);
        }
        make_bodies(j, all);
        jobs++;
        if (!j->n) {
                free(j);
                return;
        }
        submit(j);
        answer_sent(opt.group_commit ? jobs - 1 : jobs);
}

static void log_batch(const struct event *evs, int n)
{
        struct buf rec = {0}, row = {0};
        long long nrec = 0;

        if (lg.delta_events >= opt.delta || lg.delta.bytes >= (size_t)opt.delta_mb << 20)
                log_merge();
        for (int i = 0; i < n; i++) {
                const struct event *e = &evs[i];
                struct wstate w;
                enum dec d;
                int cb;
                bool seen;

                if (e->offset < lg.offsets[e->partition])
                        continue;
                lg.offsets[e->partition] = e->offset + 1;
                if (e->nik) {
                        log_worker(e->nik, &w);
                        seen = seen_in(&w, e->id);
                } else {
                        memset(&w, 0, sizeof(w));
                        seen = log_bad_seen(e->id);
                }
                if (seen) {
                        counts[D_REDELIVERED]++;
                        check_decision(e, D_REDELIVERED);
                        continue;
                }
                d = decide(e, &w, lg.reg + 1, &cb);
                counts[d]++;
                check_decision(e, d);
                nrec++;
                lg.delta_events++;
                buf_u8(&rec, (unsigned)(d << 4 | e->type));
                id_encode(&rec, e->id);
                buf_i64(&rec, e->nik);
                buf_u8(&rec, (unsigned)e->partition);
                buf_uv(&rec, (uint64_t)e->offset);
                buf_u8(&rec, e->prog);
                if (d == D_REGISTER || d == D_DEACTIVATE) {
                        char item[1024];
                        size_t len = make_item(e, d, item, sizeof(item));
                        if (d == D_REGISTER) {
                                lg.reg++;
                                lg.quota[e->prog]++;
                        } else {
                                lg.quota[e->prog]--;
                        }
                        buf_uv(&rec, (uint64_t)lg.reg);
                        buf_uv(&rec, len);
                        buf_put(&rec, item, len);
                        if (lg.npending == lg.pcap) {
                                lg.pcap = lg.pcap ? lg.pcap * 2 : 2048;
                                lg.pending =
                                    xrealloc(lg.pending, lg.pcap * sizeof(*lg.pending));
                        }
                        lg.pending[lg.npending].nik = e->nik;
                        lg.pending[lg.npending].reg = lg.reg;
                        lg.pending[lg.npending].prog = e->prog;
                        lg.pending[lg.npending].kind = d == D_REGISTER ? 1 : 2;
                        lg.pending[lg.npending].item = xmalloc(len);
                        memcpy(lg.pending[lg.npending].item, item, len);
                        lg.pending[lg.npending++].len = len;
                }
                if (e->nik) {
                        struct buf sb = {0};
                        remember(&w, e->id, lg.seq + 1 + (lg.answers.n > 0));
                        state_encode(&sb, &w);
                        buf_u8(&rec, (unsigned)sb.n);
                        buf_put(&rec, sb.p, sb.n);
                        free(sb.p);
                        delta_put(&lg.delta, e->nik, &w);
                } else {
                        log_bad_add(e->id);
                }
                /* the result, published from the record once it is durable */
                char value[1024];
                make_result(e, d, NULL, value, sizeof(value));
        }
        if (nrec) {
                row_header(&row, nrec);
                buf_put(&row, rec.p, rec.n);
        }
        free(rec.p);
        log_commit(&row, false);
}

static void log_flush(void)
{
        log_commit(NULL, true); /* the last bodies */
        writer_drain();
        answer_sent(jobs);
        log_commit(NULL, false); /* their answers */
        writer_drain();
}

static void log_open(void)
{
        lg.db = open_db(db_path, false);
        ex(lg.db, log_schema);
        if (!opt.state_runs)
                ex(lg.db, workers_schema);
        log_prepare();
        if (opt.state_runs)
                runs_open(lg.db, lg.rdb, &opt.runs);
        st_begin = prep(lg.db, "BEGIN IMMEDIATE");
        st_commit = prep(lg.db, "COMMIT");
}

static void log_close(void)
{
        sqlite3_finalize(st_begin);
        sqlite3_finalize(st_commit);
        if (opt.state_runs)
                runs_close();
        log_finalize();
}

/* restart: the log after the last merge, replayed into the delta */
static long long log_replay(void)
{
        sqlite3_stmt *s;
        long long replayed = 0;

        s = prep(lg.db, "SELECT value FROM meta WHERE key = 'merged_seq'");
        lg.merged_seq = step(lg.db, s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_finalize(s);
        s = prep(lg.db, "SELECT coalesce(max(id), 0) FROM bodies");
        step(lg.db, s);
        lg.body_id = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        lg.seq = lg.merged_seq;
        s = prep(lg.db, "SELECT seq, body FROM log WHERE seq > ?1 ORDER BY seq");
        sqlite3_bind_int64(s, 1, lg.merged_seq);
        while (step(lg.db, s) == SQLITE_ROW) {
                struct rd r = {sqlite3_column_blob(s, 1), NULL};
                r.end = r.p + sqlite3_column_bytes(s, 1);
                lg.seq = sqlite3_column_int64(s, 0);
                if (rd_u8(&r) == ROW_ANSWERS) {
                        while (r.p < r.end) {
                                struct wstate w;
                                int64_t nik = rd_i64(&r);
                                unsigned pk = rd_u8(&r);
                                int64_t reg = (int64_t)rd_uv(&r);
                                rd_bytes(&r, 11);
                                if ((pk & 15) != 1 ||
                                    !strcmp(opt.fault, "replay-skips-answers"))
                                        continue;
                                log_worker(nik, &w);
                                settle(&w, (int)(pk >> 4), reg);
                                delta_put(&lg.delta, nik, &w);
                        }
                        continue;
                }
                long long nrec = (long long)rd_uv(&r);
                unsigned np = rd_u8(&r);
                for (unsigned p = 0; p < np; p++)
                        lg.offsets[p % NPART] = (int64_t)rd_uv(&r);
                lg.published = (int64_t)rd_uv(&r);
                lg.reg = (int64_t)rd_uv(&r);
                for (int p = 0; p < NPROG; p++)
                        lg.quota[p] = (long long)rd_uv(&r);
                for (long long i = 0; i < nrec; i++) {
                        char id[48];
                        unsigned dt = rd_u8(&r);
                        id_decode(&r, id, sizeof(id));
                        int64_t nik = rd_i64(&r);
                        rd_u8(&r);
                        rd_uv(&r);
                        rd_u8(&r);
                        if ((dt >> 4) == D_REGISTER || (dt >> 4) == D_DEACTIVATE) {
                                int64_t reg = (int64_t)rd_uv(&r);
                                if (reg > lg.reg)
                                        lg.reg = reg;
                                rd_bytes(&r, rd_uv(&r));
                        }
                        if (nik) {
                                struct wstate w;
                                unsigned sl = rd_u8(&r);
                                state_decode(rd_bytes(&r, sl), sl, &w);
                                delta_put(&lg.delta, nik, &w);
                        } else {
                                log_bad_add(id);
                        }
                        lg.delta_events++;
                        replayed++;
                }
        }
        sqlite3_finalize(s);
        return replayed;
}

/* bpjs-syncctl worker NIK: the state, then each event's record in its row */
static long long log_history(int64_t nik)
{
        struct wstate w;
        long long rows = 1;

        log_worker(nik, &w);
        for (int i = 0; i < w.nids; i++) {
                sqlite3_stmt *s = lg.log_get;
                if (!w.ids[i].seq)
                        continue;
                sqlite3_bind_int64(s, 1, w.ids[i].seq);
                if (step(lg.db, s) == SQLITE_ROW) {
                        struct rd r = {sqlite3_column_blob(s, 0), NULL};
                        r.end = r.p + sqlite3_column_bytes(s, 0);
                        if (rd_u8(&r) != ROW_EVENTS)
                                die("history: event %d of a worker points at an answers "
                                    "row",
                                    i);
                        long long nrec = (long long)rd_uv(&r);
                        unsigned np = rd_u8(&r);
                        for (unsigned p = 0; p < np; p++)
                                rd_uv(&r);
                        rd_uv(&r);
                        rd_uv(&r);
                        for (int p = 0; p < NPROG; p++)
                                rd_uv(&r);
                        bool found = false;
                        for (long long k = 0; k < nrec && !found; k++) {
                                char id[48];
                                unsigned dt = rd_u8(&r);
                                id_decode(&r, id, sizeof(id));
                                int64_t rn = rd_i64(&r);
                                rd_u8(&r);
                                rd_uv(&r);
                                rd_u8(&r);
                                if ((dt >> 4) == D_REGISTER ||
                                    (dt >> 4) == D_DEACTIVATE) {
                                        rd_uv(&r);
                                        rd_bytes(&r, rd_uv(&r));
                                }
                                if (rn)
                                        rd_bytes(&r, rd_u8(&r));
                                found = rn == nik && strcmp(id, w.ids[i].id) == 0;
                        }
                        if (!found)
                                die("history: an event of a worker is not in its log "
                                    "row");
                        rows++;
                }
                sqlite3_reset(s);
        }
        return rows;
}

/* ======================= the run ======================= */

static void read_back(int64_t nik, struct wstate *w)
{
        if (opt.layout == L_TODAY) {
                char text[17];
                nik_text(nik, text);
                today_read_worker(text, w);
                /* with --coverage-once the row stays pending after its
                 * success: active is the registration's outcome, as the
                 * daemon's coverage_now view derives it */
                for (int i = 0; opt.coverage_once && i < w->ncov; i++) {
                        sqlite3_stmt *st = tu(T_OP_STATUS);
                        if (w->cov[i].st != 1)
                                continue;
                        sqlite3_bind_int64(st, 1, w->cov[i].reg);
                        if (step(td.db, st) == SQLITE_ROW &&
                            sqlite3_column_int(st, 0) == 1)
                                w->cov[i].st = 2;
                        sqlite3_reset(st);
                }
        } else {
                log_worker(nik, w);
        }
}

/* every touched worker, and a sample of the untouched, read back from the
 * journal must have the model's coverage */
static long long verify_state(const char *when)
{
        long long bad = 0, checked = 0;
        struct wstate w, f;

        for (size_t i = 0; i < model.workers.cap; i++) {
                struct mslot *s = &model.workers.s[i];
                if (!s->nik)
                        continue;
                read_back(s->nik, &w);
                checked++;
                if (!same_coverage(&w, s->w) && bad++ < 5)
                        fprintf(stderr,
                                "%s: worker %lld of the model (pre-filled #%lld): "
                                "coverage differs\n",
                                when, (long long)i, fill_index(s->nik));
        }
        for (int i = 0; i < 1000 && opt.workers; i++) {
                long long k = (long long)(side_rnd() % (uint64_t)opt.workers);
                if (map_find(&model.workers, fill_nik(k), false))
                        continue;
                fill_state(k, &f);
                read_back(fill_nik(k), &w);
                checked++;
                if (!same_coverage(&w, &f) && bad++ < 5)
                        fprintf(stderr, "%s: untouched pre-filled worker #%lld differs\n",
                                when, k);
        }
        if (!checked)
                bad++;
        return bad;
}

static double lookups_ms(void)
{
        double *ms =
            xmalloc(sizeof(double) * (size_t)(n_lookup_niks ? n_lookup_niks : 1));
        long long rows = 0;
        sqlite3 *db = opt.layout == L_TODAY ? td.db : lg.db;

        for (long long i = 0; i < n_lookup_niks; i++) {
                sqlite3_db_release_memory(db);
                drop_cache(db_path);
                double t0 = now_s();
                rows += opt.layout == L_TODAY ? today_history(lookup_niks[i])
                                              : log_history(lookup_niks[i]);
                ms[i] = (now_s() - t0) * 1000;
        }
        qsort(ms, (size_t)n_lookup_niks, sizeof(double), cmp_double);
        double med = n_lookup_niks ? ms[n_lookup_niks / 2] : 0;
        free(ms);
        if (n_lookup_niks && rows < n_lookup_niks)
                die("history lookups found %lld rows for %lld workers", rows,
                    n_lookup_niks);
        return med;
}

static void usage(void)
{
        fprintf(
            stderr,
            "usage: bpjs-journal-layout [--layout today|log] [--workers W] [--events N]\n"
            "  [--batch B] [--delta D] [--delta-mb M] [--journal-mode wal|rollback]\n"
            "  [--page-size BYTES] [--group-commit] [--bodies stored|derived] "
            "[--coverage-once]\n"
            "  [--state tree|runs] [--fan-in F] [--base-ratio R] [--filter-bits K]\n"
            "  [--lookups K] [--verify|--no-verify] [--dir DIR] [--keep] [--seed S]\n"
            "  [--fault merge-drops-a-worker|replay-skips-answers|"
            "compaction-keeps-the-older]\n");
        exit(2);
}

static long long num(const char *s, long long lo, long long hi, const char *what)
{
        char *end;
        errno = 0;
        long long v = strtoll(s ? s : "", &end, 10);
        if (!s || errno || *end || end == s || v < lo || v > hi)
                die("%s: expected a whole number from %lld to %lld, got \"%s\"", what, lo,
                    hi, s ? s : "");
        return v;
}

int main(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(a, "--layout")) {
                        if (!v || (strcmp(v, "today") && strcmp(v, "log")))
                                die("--layout: today or log");
                        opt.layout = strcmp(v, "today") ? L_LOG : L_TODAY;
                        i++;
                } else if (!strcmp(a, "--workers")) {
                        opt.workers = num(v, 0, 500000000, a), i++;
                } else if (!strcmp(a, "--events")) {
                        opt.events = num(v, 1, 1000000000, a), i++;
                } else if (!strcmp(a, "--batch")) {
                        opt.batch = (int)num(v, 1, 100000, a), i++;
                } else if (!strcmp(a, "--delta")) {
                        opt.delta = num(v, 1, 1000000000, a), i++;
                } else if (!strcmp(a, "--delta-mb")) {
                        opt.delta_mb = num(v, 1, 65536, a), i++;
                } else if (!strcmp(a, "--lookups")) {
                        opt.lookups = num(v, 0, 100000, a), i++;
                } else if (!strcmp(a, "--seed")) {
                        rng_state = (uint64_t)num(v, 1, INT64_MAX, a), i++;
                } else if (!strcmp(a, "--coverage-once")) {
                        opt.coverage_once = 1;
                } else if (!strcmp(a, "--page-size")) {
                        opt.page_size = (int)num(v, 512, 65536, a), i++;
                        if (opt.page_size & (opt.page_size - 1))
                                die("--page-size: a power of two");
                } else if (!strcmp(a, "--journal-mode")) {
                        if (!v || (strcmp(v, "wal") && strcmp(v, "rollback")))
                                die("--journal-mode: wal or rollback");
                        opt.wal = !strcmp(v, "wal"), i++;
                } else if (!strcmp(a, "--bodies")) {
                        if (!v || (strcmp(v, "stored") && strcmp(v, "derived")))
                                die("--bodies: stored or derived");
                        opt.bodies_stored = !strcmp(v, "stored"), i++;
                } else if (!strcmp(a, "--group-commit")) {
                        opt.group_commit = 1;
                } else if (!strcmp(a, "--verify")) {
                        opt.verify = 1;
                } else if (!strcmp(a, "--no-verify")) {
                        opt.verify = 0;
                } else if (!strcmp(a, "--state")) {
                        if (!v || (strcmp(v, "tree") && strcmp(v, "runs")))
                                die("--state: tree or runs");
                        opt.state_runs = !strcmp(v, "runs"), i++;
                } else if (!strcmp(a, "--fan-in")) {
                        opt.runs.fanin = (int)num(v, 2, 64, a), i++;
                } else if (!strcmp(a, "--base-ratio")) {
                        opt.runs.base_ratio = (int)num(v, 1, 1000, a), i++;
                } else if (!strcmp(a, "--filter-bits")) {
                        opt.runs.filter_bits = (int)num(v, 1, 64, a), i++;
                } else if (!strcmp(a, "--fault")) {
                        if (!v || (strcmp(v, "merge-drops-a-worker") &&
                                   strcmp(v, "replay-skips-answers") &&
                                   strcmp(v, "compaction-keeps-the-older")))
                                die("--fault: merge-drops-a-worker, "
                                    "replay-skips-answers or compaction-keeps-the-older");
                        opt.fault = v, i++;
                } else if (!strcmp(a, "--keep")) {
                        opt.keep = 1;
                } else if (!strcmp(a, "--dir")) {
                        if (!v)
                                usage();
                        opt.dir = v, i++;
                } else {
                        usage();
                }
        }
        if (opt.layout == L_TODAY && (opt.group_commit || !opt.bodies_stored))
                die("--group-commit and --bodies derived are variants of --layout log");
        if (opt.state_runs && opt.layout != L_LOG)
                die("--state runs is a variant of --layout log");
        if (!strcmp(opt.fault, "compaction-keeps-the-older") && !opt.state_runs)
                die("--fault compaction-keeps-the-older needs --state runs");
        opt.runs.keeps_older = !strcmp(opt.fault, "compaction-keeps-the-older");
        if (opt.group_commit && !opt.wal)
                die("--group-commit needs --journal-mode wal (a reader beside the "
                    "writer)");
        if (opt.verify < 0)
                opt.verify = opt.events <= 100000;
        nik_step = opt.workers ? 6000000000000000LL / opt.workers : 1;
        if (mkdir(opt.dir, 0755) && errno != EEXIST)
                die("%s: %s", opt.dir, strerror(errno));
        snprintf(db_path, sizeof(db_path), "%s/journal-%s-%d.db", opt.dir,
                 opt.layout == L_TODAY ? "today" : "log", (int)getpid());

        /* fill */
        double t0 = now_s();
        if (opt.layout == L_TODAY)
                today_fill();
        else
                log_fill();
        double fill_s = now_s() - t0;
        long long fill_bytes = file_size(db_path);

        if (opt.layout == L_TODAY) {
                today_open();
        } else {
                log_open();
                if (opt.group_commit) {
                        pthread_mutex_init(&lg.mu, NULL);
                        pthread_cond_init(&lg.cv, NULL);
                        if (pthread_create(&lg.thread, NULL, writer, NULL))
                                die("cannot start the writer thread");
                }
        }
        drop_cache(db_path);
        hwm_reset();

        /* the run */
        struct event *evs = xmalloc(sizeof(*evs) * (size_t)opt.batch);
        long syncs0 = atomic_load(&n_syncs);
        struct io io0 = io_now();
        double cpu0 = cpu_s();
        t0 = now_s();
        for (long long done = 0; done < opt.events;) {
                int n =
                    (int)(opt.events - done < opt.batch ? opt.events - done : opt.batch);
                for (int i = 0; i < n; i++) {
                        gen_event(&evs[i]);
                        sample_nik(evs[i].nik);
                }
                if (opt.layout == L_TODAY)
                        today_batch(evs, n);
                else
                        log_batch(evs, n);
                if (opt.verify)
                        model_answer(false);
                done += n;
        }
        if (opt.layout == L_TODAY)
                today_flush();
        else
                log_flush();
        if (opt.verify)
                model_answer(true);
        if (opt.wal) /* the second write of every page */
                ex(opt.layout == L_TODAY ? td.db : lg.db,
                   "PRAGMA wal_checkpoint(TRUNCATE)");
        double run_s = now_s() - t0;
        double cpu = cpu_s() - cpu0;
        struct io io1 = io_now();
        long syncs = atomic_load(&n_syncs) - syncs0;
        long hwm = vm_hwm_kib();
        long long merge_wchar = lg.merge_wchar;
        struct runs_stats rst = opt.state_runs ? runs_stats() : (struct runs_stats){0};
        free(evs);

        long long bad = opt.verify ? verify_state("end of run") + model.mismatches : 0;
        double lookup = lookups_ms();
        long long size = file_size(db_path);
        double restart_ms = -1;
        long long replayed = 0;
        int gc = opt.group_commit;

        if (opt.layout == L_LOG) {
                if (opt.group_commit) {
                        pthread_mutex_lock(&lg.mu);
                        lg.stop = true;
                        pthread_cond_broadcast(&lg.cv);
                        pthread_mutex_unlock(&lg.mu);
                        pthread_join(lg.thread, NULL);
                        opt.group_commit = 0;
                }
                long long merges = lg.merges;
                double merge_s = lg.merge_s;
                long long merged_events = lg.merged_events, mw = lg.merge_wchar;
                log_close();
                delta_clear(&lg.delta);
                for (size_t i = 0; i < lg.nbad; i++)
                        free(lg.bad[i]);
                lg.nbad = 0;
                memset(lg.offsets, 0, sizeof(lg.offsets));
                drop_cache(db_path);
                t0 = now_s();
                log_open();
                replayed = log_replay();
                restart_ms = (now_s() - t0) * 1000;
                if (opt.verify)
                        bad += verify_state("after restart");
                lg.merges = merges;
                lg.merge_s = merge_s;
                lg.merged_events = merged_events;
                lg.merge_wchar = mw;
        }

        printf("layout=%s variant=%s,%s,page%d%s%s%s W=%lld N=%lld B=%d",
               opt.layout == L_TODAY ? "today" : "log", opt.wal ? "wal" : "rollback",
               opt.layout == L_LOG ? (opt.bodies_stored ? "bodies" : "derived")
                                   : "daemon",
               opt.page_size, gc ? ",gc" : "", opt.state_runs ? ",runs" : "",
               *opt.fault          ? ",fault"
               : opt.coverage_once ? ",coverage-once"
                                   : "",
               opt.workers, opt.events, opt.batch);
        if (opt.layout == L_LOG)
                printf(" D=%lld", opt.delta);
        printf(
            " fill_s=%.1f fill_mib=%.0f events_per_s=%.0f wchar_per_event=%.0f"
            " write_bytes_per_event=%.0f fdatasyncs=%ld syncs_per_1k=%.1f"
            " cpu_us_per_event=%.1f peak_rss_mib=%.1f file_mib=%.1f bytes_per_worker=%.0f"
            " lookup_ms=%.2f",
            fill_s, (double)fill_bytes / 1048576.0, (double)opt.events / run_s,
            (double)(io1.wchar - io0.wchar) / (double)opt.events,
            (double)(io1.write_bytes - io0.write_bytes) / (double)opt.events, syncs,
            (double)syncs * 1000.0 / (double)opt.events, cpu * 1e6 / (double)opt.events,
            (double)hwm / 1024.0, (double)size / 1048576.0,
            (double)size / (double)(opt.workers + counts[D_REGISTER] + 1), lookup);
        if (opt.layout == L_LOG) {
                /* a run ends with up to D events not merged yet: the steady
                 * figure charges every event the merge's bytes per merged one */
                double per_merged =
                    lg.merged_events ? (double)lg.merge_wchar / (double)lg.merged_events
                                     : 0;
                double rest =
                    (double)(io1.wchar - io0.wchar - merge_wchar) / (double)opt.events;
                printf(" merges=%lld merge_s=%.2f merge_wchar_per_merged_event=%.0f"
                       " wchar_per_event_steady=%.0f restart_ms=%.1f replayed=%lld",
                       lg.merges, lg.merge_s, per_merged,
                       lg.merged_events ? rest + per_merged : -1.0, restart_ms, replayed);
        }
        if (opt.state_runs)
                printf(
                    " F=%d R=%d filter_bits=%d runs=%d compactions=%lld base_merges=%lld"
                    " base_merge_s=%.2f base_merge_mib=%.1f base_merge_rows=%lld"
                    " filter_kib=%.0f",
                    opt.runs.fanin, opt.runs.base_ratio, opt.runs.filter_bits, rst.runs,
                    rst.compactions, rst.base_merges, rst.base_merge_s,
                    (double)rst.base_merge_wchar / 1048576.0, rst.base_merge_rows,
                    (double)rst.filter_bytes / 1024.0);
        for (int d = 0; d < D__COUNT; d++)
                printf(" %s=%lld", dec_name[d], counts[d]);
        printf(" verify=%s\n", !opt.verify ? "off" : bad ? "FAILED" : "ok");
        fflush(stdout);

        if (opt.layout == L_TODAY)
                today_close();
        else
                log_close();
        if (opt.verify) {
                map_free(&model.workers);
                free(model.seen.s);
                free(model.pending);
        }
        delta_clear(&lg.delta);
        if (!opt.keep) {
                char p[4200];
                const char *sfx[] = {"", "-wal", "-shm", "-journal"};
                for (int i = 0; i < 4; i++) {
                        snprintf(p, sizeof(p), "%s%s", db_path, sfx[i]);
                        unlink(p);
                }
        }
        return bad ? 1 : 0;
}
