/* The SQLite journal's coverage log: coverage changes appended, merged in
 * NIK order.
 *
 * A coverage row of `coverages` is keyed by (NIK, registration), and NIKs
 * arrive in random order: inserting or updating one row per event dirtied
 * a page of its own per event, written twice (WAL and checkpoint). Here a
 * change is appended instead to coverage_log, as the coverage's whole row
 * after the change (an image), under an increasing seq; the newest image of
 * a coverage is its state, over an older image and over its row in
 * `coverages`. Once the log holds merge_rows images the newest of each
 * coverage are written into `coverages` in (NIK, registration) order, in one
 * transaction that also deletes the log through the seq merged
 * (meta coverage_merged): a merge dirties each page of the table once for
 * all the changes on it.
 *
 * Each handle keeps the log's index in memory (the 32-bit hash of each
 * image's NIK, its seq and registration), appended to as this handle
 * writes, cut back on rollback, brought up to date at the start of every
 * transaction (images other handles appended: an operator's replay), and
 * built again when someone merged. The log stays a few tens of thousands of
 * rows, so a handle reads it whole in a few milliseconds. */
#include "journal_sqlite_int.h"

#include <stdlib.h>
#include <string.h>

enum cl_stmt {
        CL_MERGED,
        CL_LOAD,
        CL_BASE,
        CL_IMAGE,
        CL_TAKE,
        CL_DERIVE,
        CL_MERGE,
        CL_DELETE,
        CL_MERGED_SET,
        CL__COUNT
};

#define COV_COLUMNS                                                                      \
        "nik, reg_seq, program, state, start_month, end_month, first_month,"             \
        " last_month, event_id, updated_at"

static const char *const sql[CL__COUNT] = {
    [CL_MERGED] = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'coverage_merged'",
    [CL_LOAD] = "SELECT seq, nik, reg_seq FROM coverage_log WHERE seq > ?1 ORDER BY seq",
    [CL_BASE] = "SELECT reg_seq, program, state, start_month, end_month, first_month,"
                " last_month, event_id, updated_at FROM coverages WHERE nik = ?1"
                " ORDER BY reg_seq",
    [CL_IMAGE] = "SELECT nik, reg_seq, program, state, start_month, end_month,"
                 " first_month, last_month, event_id, updated_at FROM coverage_log"
                 " WHERE seq = ?1",
    [CL_TAKE] = "INSERT INTO coverage_log(" COV_COLUMNS ")"
                " VALUES(?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* a change: the image it starts from (a log row, or the table's row
     * when ?6 is 0) with a new state, last month and time */
    [CL_DERIVE] = "INSERT INTO coverage_log(" COV_COLUMNS ")"
                  " SELECT nik, reg_seq, program, ?3, start_month, end_month,"
                  "  first_month, ?4, event_id, ?5 FROM coverage_log"
                  "  WHERE ?6 > 0 AND seq = ?6"
                  " UNION ALL SELECT nik, reg_seq, program, ?3, start_month, end_month,"
                  "  first_month, ?4, event_id, ?5 FROM coverages"
                  "  WHERE ?6 = 0 AND nik = ?1 AND reg_seq = ?2",
    /* the newest image of each coverage through ?1, in the table's order */
    [CL_MERGE] = "INSERT OR REPLACE INTO coverages(" COV_COLUMNS ")"
                 " SELECT " COV_COLUMNS " FROM (SELECT *, row_number() OVER"
                 "  (PARTITION BY nik, reg_seq ORDER BY seq DESC) AS newest"
                 "  FROM coverage_log WHERE seq <= ?1)"
                 " WHERE newest = 1 ORDER BY nik, reg_seq",
    [CL_DELETE] = "DELETE FROM coverage_log WHERE seq <= ?1",
    [CL_MERGED_SET] = "INSERT INTO meta(key, value) VALUES('coverage_merged', ?1)"
                      " ON CONFLICT(key) DO UPDATE SET value = ?1",
};

#define SLOT_EMPTY UINT32_MAX       /* no NIK in the slot */
#define ENT_NONE   (UINT32_MAX - 1) /* a NIK whose images were cut back */

static uint32_t nik_hash(const char *nik)
{
        uint32_t h = 2166136261u; /* FNV-1a */

        for (; *nik; nik++)
                h = (h ^ (unsigned char)*nik) * 16777619u;
        return h;
}

static sqlite3_stmt *use(struct journal *j, enum cl_stmt s)
{
        return stmt_fresh(j->cl.st[s]);
}

int jsql_cov_prepare(struct journal *j)
{
        j->cl.merge_rows = j->cl.merge_rows > 0 ? j->cl.merge_rows : JSQL_COV_MERGE_ROWS;
        j->cl.merged = -1;
        j->cl.st = calloc(CL__COUNT, sizeof(*j->cl.st));
        if (!j->cl.st)
                return SQLITE_NOMEM;
        for (int i = 0; i < CL__COUNT; i++) {
                int rc = sqlite3_prepare_v3(j->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                            &j->cl.st[i], NULL);
                if (rc != SQLITE_OK) {
                        snprintf(j->errmsg, sizeof(j->errmsg), "%s (in: %.60s)",
                                 sqlite3_errmsg(j->db), sql[i]);
                        return rc;
                }
        }
        return SQLITE_OK;
}

void jsql_cov_finalize(struct journal *j)
{
        for (int i = 0; j->cl.st && i < CL__COUNT; i++)
                sqlite3_finalize(j->cl.st[i]);
        free(j->cl.st);
        free(j->cl.ent);
        free(j->cl.slot);
        free(j->cl.rows.v);
        memset(&j->cl, 0, sizeof(j->cl));
}

static void index_clear(struct jsql_covlog *cl)
{
        cl->n = cl->n_committed = cl->n_keys = 0;
        cl->last = 0;
        for (size_t i = 0; i < cl->n_slots; i++)
                cl->slot[i].head = SLOT_EMPTY;
}

/* The slot of hash h: its own, or the empty one where it would go. */
static struct cl_slot *slot_of(const struct jsql_covlog *cl, uint32_t h)
{
        size_t mask = cl->n_slots - 1;

        for (size_t i = (size_t)h & mask;; i = (i + 1) & mask)
                if (cl->slot[i].head == SLOT_EMPTY || cl->slot[i].h == h)
                        return &cl->slot[i];
}

static int slots_grow(struct journal *j)
{
        struct jsql_covlog *cl = &j->cl;
        size_t n = cl->n_slots ? cl->n_slots * 2 : 1024;
        struct cl_slot *old = cl->slot, *s = malloc(n * sizeof(*s));
        size_t n_old = cl->n_slots;

        if (!s) {
                snprintf(j->errmsg, sizeof(j->errmsg), "coverage log: out of memory");
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                s[i].head = SLOT_EMPTY;
        cl->slot = s;
        cl->n_slots = n;
        for (size_t i = 0; i < n_old; i++)
                if (old[i].head != SLOT_EMPTY)
                        *slot_of(cl, old[i].h) = old[i];
        free(old);
        return 0;
}

/* Indexes the image seq of (NIK hash h, registration reg_seq). */
static int index_add(struct journal *j, uint32_t h, int64_t seq, int64_t reg_seq)
{
        struct jsql_covlog *cl = &j->cl;
        struct cl_slot *s;
        int rc;

        if (cl->n == cl->cap) {
                size_t cap = cl->cap ? cl->cap * 2 : 1024;
                struct cl_ent *e =
                    cap < ENT_NONE ? realloc(cl->ent, cap * sizeof(*e)) : NULL;
                if (!e) {
                        snprintf(j->errmsg, sizeof(j->errmsg),
                                 "coverage log: out of memory");
                        return -ENOMEM;
                }
                cl->ent = e;
                cl->cap = cap;
        }
        if ((cl->n_keys + 1) * 2 > cl->n_slots && (rc = slots_grow(j)))
                return rc;
        s = slot_of(cl, h);
        if (s->head == SLOT_EMPTY) {
                s->h = h;
                s->head = ENT_NONE;
                cl->n_keys++;
        }
        cl->ent[cl->n] =
            (struct cl_ent){.seq = seq, .reg_seq = reg_seq, .h = h, .prev = s->head};
        s->head = (uint32_t)cl->n++;
        if (seq > cl->last)
                cl->last = seq;
        return 0;
}

/* Images this handle appended in a transaction that did not commit. */
void jsql_cov_rollback(struct journal *j)
{
        struct jsql_covlog *cl = &j->cl;

        while (cl->n > cl->n_committed) {
                struct cl_ent *e = &cl->ent[--cl->n];
                slot_of(cl, e->h)->head = e->prev;
        }
        cl->last = cl->n ? cl->ent[cl->n - 1].seq : cl->floor;
}

void jsql_cov_committed(struct journal *j)
{
        j->cl.n_committed = j->cl.n;
}

int jsql_cov_sync(struct journal *j)
{
        struct jsql_covlog *cl = &j->cl;
        sqlite3_stmt *s = use(j, CL_MERGED);
        int64_t merged = 0;
        int rc = sqlite3_step(s), r = 0;

        if (rc == SQLITE_ROW)
                merged = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return fail(j, rc, "coverage log");
        if (merged != cl->merged) {
                /* a merge (or a first sync): the log is read again whole */
                index_clear(cl);
                cl->merged = merged;
                cl->floor = cl->last = merged;
        }
        s = use(j, CL_LOAD);
        sqlite3_bind_int64(s, 1, cl->last);
        while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
                r = index_add(j, nik_hash((const char *)sqlite3_column_text(s, 1)),
                              sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 2));
        sqlite3_reset(s);
        if (r == 0 && rc != SQLITE_DONE)
                r = fail(j, rc, "coverage log");
        if (r) {
                cl->merged = -1; /* read again whole next time */
                return r;
        }
        cl->n_committed = cl->n;
        return 0;
}

static void copy_text(sqlite3_stmt *s, int i, char *out, size_t size)
{
        const unsigned char *t = sqlite3_column_text(s, i);
        size_t n = t ? (size_t)sqlite3_column_bytes(s, i) : 0;

        if (n >= size)
                n = size - 1;
        if (n)
                memcpy(out, t, n);
        out[n] = '\0';
}

/* Columns from `at` on: program, state, months, event_id, updated_at. */
static void cov_read(sqlite3_stmt *s, int at, struct jsql_cov *c)
{
        copy_text(s, at, c->program, sizeof(c->program));
        c->state = sqlite3_column_int(s, at + 1);
        c->start_month = sqlite3_column_int64(s, at + 2);
        c->end_month = sqlite3_column_int64(s, at + 3);
        c->first_month = sqlite3_column_int64(s, at + 4);
        c->last_month = sqlite3_column_int64(s, at + 5);
        copy_text(s, at + 6, c->event_id, sizeof(c->event_id));
        c->updated_at = sqlite3_column_int64(s, at + 7);
}

static struct jsql_cov *rows_push(struct journal *j, struct jsql_covs *r)
{
        if (r->n == r->cap) {
                size_t cap = r->cap ? r->cap * 2 : 16;
                struct jsql_cov *v = realloc(r->v, cap * sizeof(*v));
                if (!v) {
                        snprintf(j->errmsg, sizeof(j->errmsg), "coverage: out of memory");
                        return NULL;
                }
                r->v = v;
                r->cap = cap;
        }
        return &r->v[r->n++];
}

/* The coverage table's rows of nik, in registration order. */
static int rows_base(struct journal *j, const char *nik, struct jsql_covs *r)
{
        sqlite3_stmt *s = use(j, CL_BASE);
        int rc;

        bind_text(s, 1, nik);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                struct jsql_cov *c = rows_push(j, r);
                if (!c) {
                        sqlite3_reset(s);
                        return -ENOMEM;
                }
                c->reg_seq = sqlite3_column_int64(s, 0);
                cov_read(s, 1, c);
                c->src = 0;
        }
        sqlite3_reset(s);
        return rc == SQLITE_DONE ? 0 : fail(j, rc, "coverage");
}

/* Puts the image seq (of reg_seq) over the row it replaces. */
static int rows_image(struct journal *j, const char *nik, int64_t seq,
                      struct jsql_covs *r)
{
        sqlite3_stmt *s = use(j, CL_IMAGE);
        struct jsql_cov img, *c = NULL;
        int rc;

        sqlite3_bind_int64(s, 1, seq);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(s, 0), nik) != 0) {
                sqlite3_reset(s); /* another NIK with the same hash */
                return 0;
        }
        if (rc == SQLITE_ROW) {
                img.reg_seq = sqlite3_column_int64(s, 1);
                cov_read(s, 2, &img);
                img.src = seq;
        }
        sqlite3_reset(s);
        if (rc == SQLITE_DONE) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "coverage log: image %lld is gone (merged under this handle)",
                         (long long)seq);
                j->cl.merged = -1;
                return -EAGAIN;
        }
        if (rc != SQLITE_ROW)
                return fail(j, rc, "coverage log");
        for (size_t i = 0; i < r->n && !c; i++)
                if (r->v[i].reg_seq == img.reg_seq)
                        c = &r->v[i];
        if (!c) {
                /* a new coverage: in registration order among the rest */
                size_t at = r->n;
                if (!rows_push(j, r))
                        return -ENOMEM;
                while (at > 0 && r->v[at - 1].reg_seq > img.reg_seq) {
                        r->v[at] = r->v[at - 1];
                        at--;
                }
                c = &r->v[at];
        }
        *c = img;
        return 0;
}

int jsql_cov_rows(struct journal *j, const char *nik, const struct jsql_covs **out)
{
        struct jsql_covlog *cl = &j->cl;
        struct jsql_covs *r = &cl->rows;
        uint32_t h = nik_hash(nik);
        int rc;

        r->n = 0;
        *out = r;
        rc = rows_base(j, nik, r);
        if (rc || cl->n_keys == 0)
                return rc;
        /* newest first: an older image of a coverage already read is skipped */
        for (uint32_t e = slot_of(cl, h)->head; rc == 0 && e < ENT_NONE;
             e = cl->ent[e].prev) {
                bool newer = false;
                for (size_t i = 0; i < r->n && !newer; i++)
                        newer = r->v[i].reg_seq == cl->ent[e].reg_seq && r->v[i].src > 0;
                if (!newer && cl->ent[e].h == h)
                        rc = rows_image(j, nik, cl->ent[e].seq, r);
        }
        if (rc)
                r->n = 0;
        return rc;
}

static int appended(struct journal *j, const char *nik, int64_t reg_seq)
{
        return index_add(j, nik_hash(nik), sqlite3_last_insert_rowid(j->db), reg_seq);
}

int jsql_cov_take(struct journal *j, const char *nik, int64_t reg_seq,
                  const struct jsql_cov *c)
{
        sqlite3_stmt *s = use(j, CL_TAKE);
        int rc;

        bind_text(s, 1, nik);
        sqlite3_bind_int64(s, 2, reg_seq);
        bind_text(s, 3, c->program);
        sqlite3_bind_int64(s, 4, c->start_month);
        sqlite3_bind_int64(s, 5, c->end_month);
        sqlite3_bind_int64(s, 6, c->first_month);
        sqlite3_bind_int64(s, 7, c->last_month);
        bind_text(s, 8, c->event_id[0] ? c->event_id : NULL);
        sqlite3_bind_int64(s, 9, c->updated_at);
        rc = stmt_run(j, s, false, "coverage");
        return rc ? rc : appended(j, nik, reg_seq);
}

int jsql_cov_change(struct journal *j, const char *nik, const struct jsql_cov *from,
                    int state, int64_t last_month, int64_t at)
{
        sqlite3_stmt *s = use(j, CL_DERIVE);
        int rc;

        bind_text(s, 1, nik);
        sqlite3_bind_int64(s, 2, from->reg_seq);
        sqlite3_bind_int(s, 3, state);
        sqlite3_bind_int64(s, 4, last_month);
        sqlite3_bind_int64(s, 5, at);
        sqlite3_bind_int64(s, 6, from->src);
        rc = stmt_run(j, s, false, "coverage");
        if (rc == 0 && sqlite3_changes(j->db) != 1) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "coverage: registration %lld has no row to change",
                         (long long)from->reg_seq);
                return -ESTALE;
        }
        return rc ? rc : appended(j, nik, from->reg_seq);
}

size_t jsql_cov_pending(const struct journal *j)
{
        return j->cl.n;
}

int jsql_cov_merge(struct journal *j)
{
        struct jsql_covlog *cl = &j->cl;
        sqlite3_stmt *s;
        int64_t through;
        int rc = jsql_begin(j);

        if (rc)
                return rc;
        through = cl->last;
        s = use(j, CL_MERGE);
        sqlite3_bind_int64(s, 1, through);
        rc = stmt_run(j, s, false, "coverage merge");
        /* the log's freed pages hold images the table now has: zeroing
         * them would write the log a second time */
        if (rc == 0)
                rc = jsql_exec(j, "PRAGMA secure_delete=FAST");
        if (rc == 0) {
                s = use(j, CL_DELETE);
                sqlite3_bind_int64(s, 1, through);
                rc = stmt_run(j, s, false, "coverage merge");
                int r = jsql_exec(j, "PRAGMA secure_delete=ON");
                rc = rc ? rc : r;
        }
        if (rc == 0) {
                s = use(j, CL_MERGED_SET);
                sqlite3_bind_int64(s, 1, through);
                rc = stmt_run(j, s, false, "coverage merge");
        }
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc) {
                jsql_rollback(j);
                cl->merged = -1;
                return rc;
        }
        index_clear(cl);
        cl->merged = cl->floor = cl->last = through;
        return 0;
}
