/* The worker state in sorted runs (bpjs-journal-layout --state runs): each
 * merge of the delta appends one run, a table run_<id>(nik INTEGER PRIMARY
 * KEY, state BLOB) written in NIK order (SQLite's append path: new pages
 * only, each filled once); F runs of a level are merged into one run of the
 * next (size-tiered compaction: a sequential read of the inputs, a
 * sequential write of the output, the inputs dropped); when the runs above
 * the base hold more than base/R rows they are all merged with the base into
 * a new base. The list of runs, with each run's bloom filter, is the table
 * runs(id, tbl, level, nrows, filter), changed in the transaction that
 * changes the runs. A lookup reads the runs newest first (level by level,
 * the newest of a level first), skipping a run whose filter says no; the
 * base has no filter and is read last. */
#include "journal_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS_BASE 1000 /* the base's level */
/* a merge's output committed every so many rows, so that a merge into the
 * base of 10M rows is not one transaction of 300 MB; the output is listed,
 * and its inputs unlisted, by the last one. The inputs are dropped after it,
 * each by a DROP TABLE in a transaction of its own: in WAL mode a DROP TABLE
 * inside a longer transaction held about the dropped table's size in
 * SQLite's memory (314 MiB peak RSS for a merge into a 10M-worker base).
 * A merge or a drop cut short leaves an unlisted table, dropped at the next
 * open. */
#define RUNS_CHUNK 100000

struct run {
        int64_t id;
        int level;
        long long nrows;
        char tbl[32];
        uint64_t *filter; /* NULL for the base */
        uint64_t nbits;
        sqlite3_stmt *get;
};

static struct {
        sqlite3 *db, *rdb;
        struct runs_opt o;
        struct run *r; /* newest first */
        int n, cap;
        int64_t next_id;
        struct runs_stats st;
} rs;

static const char runs_schema[] =
    "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
    "  level INTEGER NOT NULL, nrows INTEGER NOT NULL, filter BLOB)";

/* ---- the filters ---- */

static uint64_t runs_hash(int64_t nik, uint64_t seed)
{
        uint64_t x = (uint64_t)nik ^ seed;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

#define RUNS_PROBES 7

static void runs_filter_add(uint64_t *f, uint64_t nbits, int64_t nik)
{
        uint64_t a = runs_hash(nik, 0x9E3779B97F4A7C15ULL), b = runs_hash(nik, 7) | 1;
        for (int k = 0; k < RUNS_PROBES; k++) {
                uint64_t bit = (a + (uint64_t)k * b) % nbits;
                f[bit / 64] |= 1ULL << (bit % 64);
        }
}

static bool runs_filter_maybe(const struct run *r, int64_t nik)
{
        uint64_t a = runs_hash(nik, 0x9E3779B97F4A7C15ULL), b = runs_hash(nik, 7) | 1;
        for (int k = 0; k < RUNS_PROBES; k++) {
                uint64_t bit = (a + (uint64_t)k * b) % r->nbits;
                if (!(r->filter[bit / 64] & (1ULL << (bit % 64))))
                        return false;
        }
        return true;
}

/* ---- the list ---- */

static int runs_cmp(const void *a, const void *b)
{
        const struct run *x = a, *y = b;
        if (x->level != y->level)
                return x->level < y->level ? -1 : 1;
        return x->id > y->id ? -1 : x->id < y->id;
}

static void runs_prepare(struct run *r)
{
        char sql[96];
        snprintf(sql, sizeof(sql), "SELECT state FROM %s WHERE nik = ?1", r->tbl);
        r->get = prep(rs.rdb, sql);
}

static void runs_insert(struct run r)
{
        if (rs.n == rs.cap) {
                rs.cap = rs.cap ? rs.cap * 2 : 16;
                rs.r = realloc(rs.r, (size_t)rs.cap * sizeof(*rs.r));
                if (!rs.r)
                        die("out of memory");
        }
        rs.r[rs.n++] = r; /* its statement prepared at its first read: after
                           * the commit, for a reader beside the writer */
        qsort(rs.r, (size_t)rs.n, sizeof(*rs.r), runs_cmp);
}

static void runs_free(struct run *r)
{
        sqlite3_finalize(r->get);
        free(r->filter);
}

void runs_fill(sqlite3 *db, long long rows)
{
        char sql[160];
        ex(db, runs_schema);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO runs(id, tbl, level, nrows) VALUES(0, 'workers', %d, %lld)",
                 RUNS_BASE, rows);
        ex(db, sql);
}

void runs_open(sqlite3 *db, sqlite3 *rdb, const struct runs_opt *o)
{
        sqlite3_stmt *s;

        memset(&rs, 0, sizeof(rs));
        rs.db = db;
        rs.rdb = rdb ? rdb : db;
        rs.o = *o;
        ex(db, runs_schema);
        /* the output of a merge cut short */
        s = prep(db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB "
                     "'run_*' AND name NOT IN (SELECT tbl FROM runs)");
        while (step(db, s) == SQLITE_ROW) {
                char sql[96];
                snprintf(sql, sizeof(sql), "DROP TABLE %s", sqlite3_column_text(s, 0));
                sqlite3_reset(s);
                ex(db, sql);
        }
        sqlite3_finalize(s);
        s = prep(db, "SELECT id, tbl, level, nrows, filter FROM runs");
        while (step(db, s) == SQLITE_ROW) {
                struct run r = {0};
                size_t fb = (size_t)sqlite3_column_bytes(s, 4);
                r.id = sqlite3_column_int64(s, 0);
                snprintf(r.tbl, sizeof(r.tbl), "%s",
                         (const char *)sqlite3_column_text(s, 1));
                r.level = sqlite3_column_int(s, 2);
                r.nrows = sqlite3_column_int64(s, 3);
                if (fb) {
                        if (fb % 8)
                                die("run %lld: a filter of %zu bytes", (long long)r.id,
                                    fb);
                        r.filter = xmalloc(fb);
                        memcpy(r.filter, sqlite3_column_blob(s, 4), fb);
                        r.nbits = fb * 8;
                        rs.st.filter_bytes += (long long)fb;
                }
                if (r.id >= rs.next_id)
                        rs.next_id = r.id + 1;
                runs_insert(r);
        }
        sqlite3_finalize(s);
        if (!rs.n)
                die("the journal has no runs: not filled with --state runs");
}

void runs_close(void)
{
        for (int i = 0; i < rs.n; i++)
                runs_free(&rs.r[i]);
        free(rs.r);
        rs.r = NULL;
        rs.n = rs.cap = 0;
}

int runs_get(int64_t nik, uint8_t out[256])
{
        for (int i = 0; i < rs.n; i++) {
                struct run *r = &rs.r[i];
                int len = -1;
                if (r->filter && !runs_filter_maybe(r, nik))
                        continue;
                if (!r->get)
                        runs_prepare(r);
                sqlite3_bind_int64(r->get, 1, nik);
                if (step(rs.rdb, r->get) == SQLITE_ROW) {
                        len = sqlite3_column_bytes(r->get, 0);
                        if (len > 255)
                                die("run %lld: a state of %d bytes", (long long)r->id,
                                    len);
                        memcpy(out, sqlite3_column_blob(r->get, 0), (size_t)len);
                }
                sqlite3_reset(r->get);
                if (len >= 0)
                        return len;
        }
        return -1;
}

/* ---- writing a run ---- */

struct runs_out {
        struct run r;
        sqlite3_stmt *put;
};

/* a new run's table, with a filter sized for at most `rows` (none at the
 * base's level) */
static void runs_out_begin(struct runs_out *w, int level, long long rows)
{
        char sql[128];
        memset(w, 0, sizeof(*w));
        w->r.id = rs.next_id++;
        w->r.level = level;
        snprintf(w->r.tbl, sizeof(w->r.tbl), "run_%lld", (long long)w->r.id);
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE %s(nik INTEGER PRIMARY KEY, state BLOB NOT NULL)",
                 w->r.tbl);
        ex(rs.db, sql);
        snprintf(sql, sizeof(sql), "INSERT INTO %s(nik, state) VALUES(?1, ?2)", w->r.tbl);
        w->put = prep(rs.db, sql);
        if (level != RUNS_BASE) {
                w->r.nbits =
                    ((uint64_t)(rows > 0 ? rows : 1) * (uint64_t)rs.o.filter_bits + 63) /
                    64 * 64;
                w->r.filter = calloc(w->r.nbits / 64, 8);
                if (!w->r.filter)
                        die("out of memory");
        }
}

static void runs_out_put(struct runs_out *w, int64_t nik, const void *state, int len)
{
        sqlite3_bind_int64(w->put, 1, nik);
        sqlite3_bind_blob(w->put, 2, state, len, SQLITE_STATIC);
        run1(rs.db, w->put);
        if (w->r.filter)
                runs_filter_add(w->r.filter, w->r.nbits, nik);
        w->r.nrows++;
}

/* the run listed, in memory and in `runs` */
static void runs_out_end(struct runs_out *w)
{
        sqlite3_stmt *s = prep(rs.db, "INSERT INTO runs(id, tbl, level, nrows, filter)"
                                      " VALUES(?1, ?2, ?3, ?4, ?5)");
        sqlite3_finalize(w->put);
        sqlite3_bind_int64(s, 1, w->r.id);
        sqlite3_bind_text(s, 2, w->r.tbl, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, w->r.level);
        sqlite3_bind_int64(s, 4, w->r.nrows);
        if (w->r.filter)
                sqlite3_bind_blob(s, 5, w->r.filter, (int)(w->r.nbits / 8),
                                  SQLITE_STATIC);
        else
                sqlite3_bind_null(s, 5);
        run1(rs.db, s);
        sqlite3_finalize(s);
        rs.st.filter_bytes += (long long)(w->r.nbits / 8);
        runs_insert(w->r);
}

void runs_append(const int64_t *nik, uint8_t *const *state, size_t n)
{
        struct runs_out w;
        runs_out_begin(&w, 0, (long long)n);
        for (size_t i = 0; i < n; i++)
                runs_out_put(&w, nik[i], state[i] + 1, state[i][0]);
        runs_out_end(&w);
}

/* ---- merging runs ---- */

/* runs [from, to) of the list (newest first) merged into one run of `level`;
 * of a NIK in several, the newest state is kept. Inside a transaction, which
 * it commits and begins again every RUNS_CHUNK rows; the inputs' tables are
 * left to drop, their names in drop[]. */
/* One input of a merge: its cursor, and whether it has a row. */
struct runs_in {
        sqlite3_stmt *stmt;
        bool more;
};

static void runs_merge(int from, int to, int level, char (*drop)[32])
{
        int k = to - from;
        struct runs_in *in = xmalloc(sizeof(*in) * (size_t)k);
        long long rows = 0;
        struct runs_out w;
        char sql[128];

        for (int i = from; i < to; i++)
                rows += rs.r[i].nrows;
        runs_out_begin(&w, level, rows);
        for (int i = 0; i < k; i++) {
                snprintf(sql, sizeof(sql), "SELECT nik, state FROM %s ORDER BY nik",
                         rs.r[from + i].tbl);
                in[i].stmt = prep(rs.db, sql);
                in[i].more = step(rs.db, in[i].stmt) == SQLITE_ROW;
        }
        for (;;) {
                int best = -1;
                int64_t low = 0;
                /* the lowest NIK; on a tie the newest input (the lowest
                 * index), or with the fault the oldest */
                for (int i = 0; i < k; i++) {
                        if (!in[i].more)
                                continue;
                        int64_t v = sqlite3_column_int64(in[i].stmt, 0);
                        if (best < 0 || v < low || (v == low && rs.o.keeps_older)) {
                                best = i;
                                low = v;
                        }
                }
                if (best < 0)
                        break;
                runs_out_put(&w, low, sqlite3_column_blob(in[best].stmt, 1),
                             sqlite3_column_bytes(in[best].stmt, 1));
                if (w.r.nrows % RUNS_CHUNK == 0) {
                        ex(rs.db, "COMMIT");
                        ex(rs.db, "BEGIN IMMEDIATE");
                }
                for (int i = 0; i < k; i++)
                        while (in[i].more && sqlite3_column_int64(in[i].stmt, 0) == low)
                                in[i].more = step(rs.db, in[i].stmt) == SQLITE_ROW;
        }
        for (int i = 0; i < k; i++)
                sqlite3_finalize(in[i].stmt);
        free(in);
        /* the inputs unlisted (dropped after the commit: their pages go to
         * the free list, for the next runs) */
        for (int i = from; i < to; i++) {
                memcpy(drop[i - from], rs.r[i].tbl, sizeof(rs.r[i].tbl));
                runs_free(&rs.r[i]);
                snprintf(sql, sizeof(sql), "DELETE FROM runs WHERE id = %lld",
                         (long long)rs.r[i].id);
                ex(rs.db, sql);
                rs.st.filter_bytes -= (long long)(rs.r[i].nbits / 8);
        }
        memmove(&rs.r[from], &rs.r[to], sizeof(*rs.r) * (size_t)(rs.n - to));
        rs.n -= k;
        runs_out_end(&w);
}

/* runs [from, to) merged into one of `level`, in transactions of their own */
static void runs_merge_commit(int from, int to, int level)
{
        char(*drop)[32] = xmalloc(sizeof(*drop) * (size_t)(to - from));
        char sql[64];

        ex(rs.db, "BEGIN IMMEDIATE");
        runs_merge(from, to, level, drop);
        ex(rs.db, "COMMIT");
        for (int i = 0; i < to - from; i++) {
                snprintf(sql, sizeof(sql), "DROP TABLE %s", drop[i]);
                ex(rs.db, sql);
        }
        free(drop);
}

void runs_compact(void)
{
        for (;;) {
                int from = 0, to;
                /* the first level (newest) with F runs */
                while (from < rs.n && rs.r[from].level != RUNS_BASE) {
                        to = from;
                        while (to < rs.n && rs.r[to].level == rs.r[from].level)
                                to++;
                        if (to - from >= rs.o.fanin)
                                break;
                        from = to;
                }
                if (from >= rs.n || rs.r[from].level == RUNS_BASE)
                        break;
                runs_merge_commit(from, to, rs.r[from].level + 1);
                rs.st.compactions++;
        }
        long long above = 0, base = rs.r[rs.n - 1].nrows;
        for (int i = 0; i < rs.n - 1; i++)
                above += rs.r[i].nrows;
        if (rs.n > 1 && above * rs.o.base_ratio > base) {
                double t0 = now_s();
                long long w0 = io_wchar();
                runs_merge_commit(0, rs.n, RUNS_BASE);
                rs.st.base_merges++;
                rs.st.base_merge_rows += rs.r[0].nrows;
                rs.st.base_merge_s += now_s() - t0;
                rs.st.base_merge_wchar += io_wchar() - w0;
        }
}

struct runs_stats runs_stats(void)
{
        struct runs_stats st = rs.st;
        st.runs = rs.n;
        return st;
}
