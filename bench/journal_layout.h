/* bpjs-journal-layout's helpers shared by its files (journal_layout.c, the
 * program; journal_layout_runs.c, the worker state kept in sorted runs). */
#ifndef BPJS_JOURNAL_LAYOUT_H
#define BPJS_JOURNAL_LAYOUT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xmalloc(size_t n);
void ex(sqlite3 *db, const char *sql);
sqlite3_stmt *prep(sqlite3 *db, const char *sql);
int step(sqlite3 *db, sqlite3_stmt *s);
void run1(sqlite3 *db, sqlite3_stmt *s);
double now_s(void);
long long io_wchar(void);

/* ---- the worker state in sorted runs (--state runs) ---- */

struct runs_opt {
        int fanin;        /* runs of a level merged into one of the next */
        int base_ratio;   /* all runs merged into the base at base rows / R */
        int filter_bits;  /* of a run's bloom filter, per row */
        bool keeps_older; /* the fault: a compaction keeps the older state */
};

struct runs_stats {
        long long compactions, base_merges, base_merge_rows, base_merge_wchar;
        double base_merge_s;
        int runs;               /* live, the base included */
        long long filter_bytes; /* the bloom filters held in memory */
};

/* the pre-filled `workers` table (nik INTEGER PRIMARY KEY, state BLOB) is
 * the first base */
void runs_fill(sqlite3 *db, long long rows);
/* loads the list of runs and their filters; gets read through rdb */
void runs_open(sqlite3 *db, sqlite3 *rdb, const struct runs_opt *o);
void runs_close(void);
/* the newest state of a worker: its length, or -1 if no run holds it */
int runs_get(int64_t nik, uint8_t out[256]);
/* one sorted run of n states (length byte first), inside the caller's
 * transaction */
void runs_append(const int64_t *nik, uint8_t *const *state, size_t n);
/* after the caller's commit: compactions and the base merge it calls for,
 * each in its own transaction */
void runs_compact(void);
struct runs_stats runs_stats(void);

#endif
