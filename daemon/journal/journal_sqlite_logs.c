/* The SQLite journal's two logs: coverage changes and decided events,
 * appended, then merged in key order.
 *
 * Coverages are keyed by (NIK, registration) and events by event id, and
 * both keys arrive in an order of their own: writing one row into either
 * table per event dirtied a page of its own per event, written twice (WAL
 * and checkpoint). Here both are appended instead:
 *
 *   - coverage_log: each change of a coverage as the coverage's whole row
 *     after it (an image), under an increasing seq; the newest image of a
 *     coverage is its state, over an older image and over its row in
 *     `coverages`;
 *   - event_log: each decided event's row, as `events` would hold it (an
 *     id is in one of the two, never both).
 *
 * Once the logs hold merge_rows rows together (or a minute after the last
 * merge, from pruning), one transaction writes the newest image of each
 * coverage into `coverages` in (NIK, registration) order and the events
 * into `events` in id order, deletes both logs through the seqs merged and
 * counts the merge in meta log_merges: a merge dirties each page of a table
 * once for all the rows that fall on it.
 *
 * Each handle keeps both logs' indexes in memory (the 32-bit hash of each
 * row's key with its seq), appended to as this handle writes, cut back on
 * rollback, brought up to date at the start of every transaction (rows
 * other handles appended: an operator's replay), and built again when
 * someone merged. The logs stay a few tens of thousands of rows, so a
 * handle reads them whole in a few milliseconds. */
#include "journal_sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

enum lg_stmt {
        LG_MERGES,
        LG_COV_LOAD,
        LG_EV_LOAD,
        LG_BASE,
        LG_IMAGE,
        LG_TAKE,
        LG_DERIVE,
        LG_EV_ID,
        LG_EV_BASE,
        LG_EV_INSERT,
        LG_COV_MERGE,
        LG_COV_DELETE,
        LG_COV_LAST,
        LG_COV_CLEAR,
        LG_EV_MERGE,
        LG_EV_DELETE,
        LG_EV_LAST,
        LG_EV_CLEAR,
        LG_MERGES_ADD,
        LG_EV_OLDEST,
        LG__COUNT
};

#define COV_COLUMNS                                                                      \
        "nik, reg_seq, program, state, start_month, end_month, first_month,"             \
        " last_month, event_id, updated_at"

static const char *const sql[LG__COUNT] = {
    [LG_MERGES] = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'log_merges'",
    [LG_COV_LOAD] = "SELECT seq, nik, reg_seq FROM coverage_log WHERE seq > ?1"
                    " ORDER BY seq",
    [LG_EV_LOAD] = "SELECT seq, event_id FROM event_log WHERE seq > ?1 ORDER BY seq",
    [LG_BASE] = "SELECT reg_seq, program, state, start_month, end_month, first_month,"
                " last_month, event_id, updated_at FROM coverages WHERE nik = ?1"
                " ORDER BY reg_seq",
    [LG_IMAGE] = "SELECT nik, reg_seq, program, state, start_month, end_month,"
                 " first_month, last_month, event_id, updated_at FROM coverage_log"
                 " WHERE seq = ?1",
    [LG_TAKE] = "INSERT INTO coverage_log(" COV_COLUMNS ")"
                " VALUES(?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* a change: the image it starts from (a log row, or the table's row
     * when ?6 is 0) with a new state, last month and time */
    [LG_DERIVE] = "INSERT INTO coverage_log(" COV_COLUMNS ")"
                  " SELECT nik, reg_seq, program, ?3, start_month, end_month,"
                  "  first_month, ?4, event_id, ?5 FROM coverage_log"
                  "  WHERE ?6 > 0 AND seq = ?6"
                  " UNION ALL SELECT nik, reg_seq, program, ?3, start_month, end_month,"
                  "  first_month, ?4, event_id, ?5 FROM coverages"
                  "  WHERE ?6 = 0 AND nik = ?1 AND reg_seq = ?2",
    [LG_EV_ID] = "SELECT event_id FROM event_log WHERE seq = ?1",
    [LG_EV_BASE] = "SELECT 1 FROM events WHERE event_id = ?1",
    [LG_EV_INSERT] = "INSERT INTO event_log(" JSQL_EVENT_COLUMNS ")"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    /* the newest image of each coverage through ?1, in the table's order */
    [LG_COV_MERGE] = "INSERT OR REPLACE INTO coverages(" COV_COLUMNS ")"
                     " SELECT " COV_COLUMNS " FROM (SELECT *, row_number() OVER"
                     "  (PARTITION BY nik, reg_seq ORDER BY seq DESC) AS newest"
                     "  FROM coverage_log WHERE seq <= ?1)"
                     " WHERE newest = 1 ORDER BY nik, reg_seq",
    [LG_COV_DELETE] = "DELETE FROM coverage_log WHERE seq <= ?1",
    /* without a WHERE, SQLite frees a table's pages whole (its truncate
     * optimisation) instead of deleting row by row and writing every page
     * it changed; AUTOINCREMENT still never gives a seq twice */
    [LG_COV_LAST] = "SELECT coalesce(max(seq), 0) FROM coverage_log",
    [LG_COV_CLEAR] = "DELETE FROM coverage_log",
    /* an id is logged once (jsql_ev_add refuses a second): a plain insert,
     * so that a broken promise fails the merge instead of hiding */
    [LG_EV_MERGE] =
        "INSERT INTO events(" JSQL_EVENT_COLUMNS ") SELECT " JSQL_EVENT_COLUMNS
        " FROM event_log WHERE seq <= ?1 ORDER BY event_id",
    [LG_EV_DELETE] = "DELETE FROM event_log WHERE seq <= ?1",
    [LG_EV_LAST] = "SELECT coalesce(max(seq), 0) FROM event_log",
    [LG_EV_CLEAR] = "DELETE FROM event_log",
    [LG_MERGES_ADD] =
        "INSERT INTO meta(key, value) VALUES('log_merges', 1)"
        " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
    [LG_EV_OLDEST] = "SELECT decided_at FROM event_log ORDER BY seq LIMIT 1",
};

#define SLOT_EMPTY UINT32_MAX       /* no key in the slot */
#define ENT_NONE   (UINT32_MAX - 1) /* a key whose rows were cut back */

static uint32_t key_hash(const char *key)
{
        uint32_t h = 2166136261u; /* FNV-1a */

        for (; *key; key++)
                h = (h ^ (unsigned char)*key) * 16777619u;
        return h;
}

static sqlite3_stmt *use(struct journal *j, enum lg_stmt s)
{
        return stmt_fresh(j->lg.st[s]);
}

int jsql_logs_prepare(struct journal *j)
{
        struct jsql_logs *lg = &j->lg;

        lg->merge_rows = lg->merge_rows > 0 ? lg->merge_rows : JSQL_LOGS_MERGE_ROWS;
        lg->merges = -1;
        lg->merged_at = clock_now_ms();
        lg->st = calloc(LG__COUNT, sizeof(sqlite3_stmt *));
        if (!lg->st)
                return SQLITE_NOMEM;
        for (int i = 0; i < LG__COUNT; i++) {
                int rc = sqlite3_prepare_v3(j->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                            &lg->st[i], NULL);
                if (rc != SQLITE_OK) {
                        snprintf(j->errmsg, sizeof(j->errmsg), "%s (in: %.60s)",
                                 sqlite3_errmsg(j->db), sql[i]);
                        return rc;
                }
        }
        return SQLITE_OK;
}

static void index_free(struct jsql_logidx *x)
{
        free(x->ent);
        free(x->slot);
}

static void absent_clear(struct jsql_absent *a)
{
        if (a->n)
                memset(a->slot, 0, a->n_slots * sizeof(*a->slot));
        a->n = 0;
        textpool_clear(&a->texts);
}

static void absent_free(struct jsql_absent *a)
{
        free(a->slot);
        free(a->id);
        textpool_free(&a->texts);
}

void jsql_logs_finalize(struct journal *j)
{
        for (int i = 0; j->lg.st && i < LG__COUNT; i++)
                sqlite3_finalize(j->lg.st[i]);
        free(j->lg.st);
        index_free(&j->lg.cov);
        index_free(&j->lg.ev);
        absent_free(&j->lg.absent);
        free(j->lg.rows.v);
        memset(&j->lg, 0, sizeof(j->lg));
}

static void index_clear(struct jsql_logidx *x)
{
        x->n = x->n_committed = x->n_keys = 0;
        x->last = 0;
        for (size_t i = 0; i < x->n_slots; i++)
                x->slot[i].head = SLOT_EMPTY;
}

/* The slot of hash h: its own, or the empty one where it would go. */
static struct lg_slot *slot_of(const struct jsql_logidx *x, uint32_t h)
{
        size_t mask = x->n_slots - 1;

        for (size_t i = (size_t)h & mask;; i = (i + 1) & mask)
                if (x->slot[i].head == SLOT_EMPTY || x->slot[i].h == h)
                        return &x->slot[i];
}

/* The newest row of hash h, or a value >= ENT_NONE. */
static uint32_t index_head(const struct jsql_logidx *x, uint32_t h)
{
        return x->n_keys ? slot_of(x, h)->head : SLOT_EMPTY;
}

static int slots_grow(struct journal *j, struct jsql_logidx *x)
{
        size_t n = x->n_slots ? x->n_slots * 2 : 1024;
        struct lg_slot *old = x->slot, *s = malloc(n * sizeof(*s));
        size_t n_old = x->n_slots;

        if (!s) {
                snprintf(j->errmsg, sizeof(j->errmsg), "journal log: out of memory");
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                s[i].head = SLOT_EMPTY;
        x->slot = s;
        x->n_slots = n;
        for (size_t i = 0; i < n_old; i++)
                if (old[i].head != SLOT_EMPTY)
                        *slot_of(x, old[i].h) = old[i];
        free(old);
        return 0;
}

/* Indexes the row seq of key hash h (key2: a coverage's registration). */
static int index_add(struct journal *j, struct jsql_logidx *x, uint32_t h, int64_t seq,
                     int64_t key2)
{
        struct lg_slot *s;
        int rc;

        if (x->n == x->cap) {
                size_t cap = x->cap ? x->cap * 2 : 1024;
                struct lg_ent *e =
                    cap < ENT_NONE ? realloc(x->ent, cap * sizeof(*e)) : NULL;
                if (!e) {
                        snprintf(j->errmsg, sizeof(j->errmsg),
                                 "journal log: out of memory");
                        return -ENOMEM;
                }
                x->ent = e;
                x->cap = cap;
        }
        if ((x->n_keys + 1) * 2 > x->n_slots && (rc = slots_grow(j, x)))
                return rc;
        s = slot_of(x, h);
        if (s->head == SLOT_EMPTY) {
                s->h = h;
                s->head = ENT_NONE;
                x->n_keys++;
        }
        x->ent[x->n] = (struct lg_ent){.seq = seq, .key2 = key2, .h = h, .prev = s->head};
        s->head = (uint32_t)x->n++;
        if (seq > x->last)
                x->last = seq;
        return 0;
}

static void index_rollback(struct jsql_logidx *x)
{
        while (x->n > x->n_committed) {
                struct lg_ent *e = &x->ent[--x->n];
                slot_of(x, e->h)->head = e->prev;
        }
        x->last = x->n ? x->ent[x->n - 1].seq : x->floor;
}

/* Rows this handle appended in a transaction that did not commit. */
void jsql_logs_rollback(struct journal *j)
{
        index_rollback(&j->lg.cov);
        index_rollback(&j->lg.ev);
        absent_clear(&j->lg.absent);
}

void jsql_logs_committed(struct journal *j)
{
        j->lg.cov.n_committed = j->lg.cov.n;
        j->lg.ev.n_committed = j->lg.ev.n;
        absent_clear(&j->lg.absent);
}

/* Rows of one log after the index's last: (seq, key[, key2]). */
static int index_load(struct journal *j, struct jsql_logidx *x, enum lg_stmt st)
{
        sqlite3_stmt *s = use(j, st);
        int rc, r = 0;

        sqlite3_bind_int64(s, 1, x->last);
        while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
                r = index_add(j, x, key_hash((const char *)sqlite3_column_text(s, 1)),
                              sqlite3_column_int64(s, 0),
                              st == LG_COV_LOAD ? sqlite3_column_int64(s, 2) : 0);
        sqlite3_reset(s);
        if (r == 0 && rc != SQLITE_DONE)
                r = fail(j, rc, "journal log");
        x->n_committed = x->n;
        return r;
}

int jsql_logs_sync(struct journal *j)
{
        struct jsql_logs *lg = &j->lg;
        sqlite3_stmt *s = use(j, LG_MERGES);
        int64_t merges = 0;
        int rc = sqlite3_step(s);

        if (rc == SQLITE_ROW)
                merges = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return fail(j, rc, "journal log");
        absent_clear(&lg->absent);
        if (merges != lg->merges) {
                /* a merge (or a first sync): the logs are read again whole */
                index_clear(&lg->cov);
                index_clear(&lg->ev);
                lg->cov.floor = lg->ev.floor = 0;
                lg->merges = merges;
        }
        rc = index_load(j, &lg->cov, LG_COV_LOAD);
        if (rc == 0)
                rc = index_load(j, &lg->ev, LG_EV_LOAD);
        if (rc)
                lg->merges = -1; /* read again whole next time */
        return rc;
}

/* Columns from `at` on: program, state, months, event_id, updated_at. */
static void cov_read(sqlite3_stmt *s, int at, struct jsql_cov *c)
{
        column_copy(s, at, c->program, sizeof(c->program));
        c->state = sqlite3_column_int(s, at + 1);
        c->start_month = sqlite3_column_int64(s, at + 2);
        c->end_month = sqlite3_column_int64(s, at + 3);
        c->first_month = sqlite3_column_int64(s, at + 4);
        c->last_month = sqlite3_column_int64(s, at + 5);
        column_copy(s, at + 6, c->event_id, sizeof(c->event_id));
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
        sqlite3_stmt *s = use(j, LG_BASE);
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

/* A row the index names is gone: someone merged under this handle's feet
 * (which a transaction's sync rules out); the index is read again. */
static int row_gone(struct journal *j, const char *what, int64_t seq)
{
        snprintf(j->errmsg, sizeof(j->errmsg), "%s log: row %lld is gone", what,
                 (long long)seq);
        j->lg.merges = -1;
        return -EAGAIN;
}

/* Puts the image seq over the row it replaces. */
static int rows_image(struct journal *j, const char *nik, int64_t seq,
                      struct jsql_covs *r)
{
        sqlite3_stmt *s = use(j, LG_IMAGE);
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
        if (rc == SQLITE_DONE)
                return row_gone(j, "coverage", seq);
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
        struct jsql_logidx *x = &j->lg.cov;
        struct jsql_covs *r = &j->lg.rows;
        uint32_t h = key_hash(nik);
        int rc;

        r->n = 0;
        *out = r;
        rc = rows_base(j, nik, r);
        /* newest first: an older image of a coverage already read is skipped */
        for (uint32_t e = index_head(x, h); rc == 0 && e < ENT_NONE; e = x->ent[e].prev) {
                bool newer = false;
                for (size_t i = 0; i < r->n && !newer; i++)
                        newer = r->v[i].reg_seq == x->ent[e].key2 && r->v[i].src > 0;
                if (!newer && x->ent[e].h == h)
                        rc = rows_image(j, nik, x->ent[e].seq, r);
        }
        if (rc)
                r->n = 0;
        return rc;
}

int jsql_cov_take(struct journal *j, const struct journal_record *r, int64_t reg_seq)
{
        sqlite3_stmt *s = use(j, LG_TAKE);
        int rc;

        bind_text(s, 1, r->nik);
        sqlite3_bind_int64(s, 2, reg_seq);
        bind_text(s, 3, r->program);
        sqlite3_bind_int64(s, 4, r->start_month);
        sqlite3_bind_int64(s, 5, r->end_month);
        sqlite3_bind_int64(s, 6, r->first_month);
        sqlite3_bind_int64(s, 7, r->last_month);
        bind_text(s, 8, r->event_id);
        sqlite3_bind_int64(s, 9, r->at_ms);
        rc = stmt_run(j, s, false, "coverage");
        return rc ? rc
                  : index_add(j, &j->lg.cov, key_hash(r->nik),
                              sqlite3_last_insert_rowid(j->db), reg_seq);
}

int jsql_cov_change(struct journal *j, const char *nik, const struct jsql_cov *from,
                    int state, int64_t last_month, int64_t at)
{
        sqlite3_stmt *s = use(j, LG_DERIVE);
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
        return rc ? rc
                  : index_add(j, &j->lg.cov, key_hash(nik),
                              sqlite3_last_insert_rowid(j->db), from->reg_seq);
}

/* Whether the event log holds event_id: 1, 0, or -errno. */
static int ev_logged(struct journal *j, const char *event_id, uint32_t h)
{
        struct jsql_logidx *x = &j->lg.ev;
        int rc = 0;

        for (uint32_t e = index_head(x, h); rc == 0 && e < ENT_NONE; e = x->ent[e].prev) {
                sqlite3_stmt *s;
                if (x->ent[e].h != h)
                        continue;
                s = use(j, LG_EV_ID);
                sqlite3_bind_int64(s, 1, x->ent[e].seq);
                rc = sqlite3_step(s);
                if (rc == SQLITE_ROW)
                        rc = strcmp((const char *)sqlite3_column_text(s, 0), event_id) ==
                             0;
                else if (rc == SQLITE_DONE)
                        rc = row_gone(j, "event", x->ent[e].seq);
                else
                        rc = fail(j, rc, "event log");
                sqlite3_reset(s);
        }
        return rc;
}

int jsql_ev_seen(struct journal *j, const char *event_id)
{
        sqlite3_stmt *s;
        int rc = ev_logged(j, event_id, key_hash(event_id));

        if (rc)
                return rc;
        s = use(j, LG_EV_BASE);
        bind_text(s, 1, event_id);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc == SQLITE_ROW)
                return 1;
        return rc == SQLITE_DONE ? 0 : fail(j, rc, "event lookup");
}

/* The number of event_id in the transaction's absent ids, or -1. */
static int64_t absent_find(const struct jsql_absent *a, const char *event_id, uint32_t h)
{
        if (a->n == 0)
                return -1;
        for (uint32_t i = h & (a->n_slots - 1);; i = (i + 1) & (a->n_slots - 1)) {
                uint32_t k = a->slot[i];
                if (k == 0)
                        return -1;
                if (strcmp(a->id[k - 1], event_id) == 0)
                        return k - 1;
        }
}

/* Id number k into the first free slot from its hash on. */
static void absent_put(uint32_t *slot, uint32_t n_slots, uint32_t h, uint32_t k)
{
        uint32_t i = h & (n_slots - 1);

        while (slot[i])
                i = (i + 1) & (n_slots - 1);
        slot[i] = k + 1;
}

/* Room for one more id: its number, and slots at most half full. */
static int absent_grow(struct jsql_absent *a)
{
        if (a->n + 1 > a->cap) {
                uint32_t cap = a->cap ? a->cap * 2 : 1024;
                const char **id = realloc(a->id, cap * sizeof(*id));
                if (!id)
                        return -ENOMEM;
                a->id = id;
                a->cap = cap;
        }
        if ((a->n + 1) * 2 > a->n_slots) {
                /* the ids hashed again into twice the slots */
                uint32_t n_slots = a->n_slots ? a->n_slots * 2 : 2048;
                uint32_t *slot = calloc(n_slots, sizeof(*slot));
                if (!slot)
                        return -ENOMEM;
                for (uint32_t k = 0; k < a->n; k++)
                        absent_put(slot, n_slots, key_hash(a->id[k]), k);
                free(a->slot);
                a->slot = slot;
                a->n_slots = n_slots;
        }
        return 0;
}

/* event_id, just found in neither the log nor the table by this
 * transaction, noted for jsql_ev_add. Out of memory, it is not noted and
 * writing it asks the table again: slower, never wrong. */
void jsql_ev_absent(struct journal *j, const char *event_id)
{
        struct jsql_absent *a = &j->lg.absent;
        uint32_t h = key_hash(event_id);
        const char *copy;

        if (absent_find(a, event_id, h) >= 0 || absent_grow(a) ||
            !(copy = textpool_copy(&a->texts, event_id, strlen(event_id))))
                return;
        a->id[a->n] = copy;
        absent_put(a->slot, a->n_slots, h, a->n);
        a->n++;
}

int jsql_ev_add(struct journal *j, const struct journal_record *r)
{
        sqlite3_stmt *s;
        /* the promise events' key kept: one row an id (a redelivery is
         * recognised before it gets here; two of one batch are a caller's
         * fault), whether the first is in the log or the table. An id this
         * transaction found in neither can since be in the log only. */
        uint32_t h = key_hash(r->event_id);
        int rc = absent_find(&j->lg.absent, r->event_id, h) >= 0
                     ? ev_logged(j, r->event_id, h)
                     : jsql_ev_seen(j, r->event_id);

        if (rc == 1) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "event: an id journaled already (UNIQUE constraint)");
                return -EIO;
        }
        if (rc)
                return rc;
        s = use(j, LG_EV_INSERT);
        bind_text(s, 1, r->event_id);
        bind_text(s, 2, r->nik ? r->nik : "");
        bind_text(s, 3, r->program);
        sqlite3_bind_int(s, 4, r->type);
        sqlite3_bind_int(s, 5, r->status);
        bind_text(s, 6, r->reason);
        bind_text(s, 7, r->covered_by);
        bind_text(s, 8, r->topic);
        sqlite3_bind_int(s, 9, r->partition);
        sqlite3_bind_int64(s, 10, r->offset);
        sqlite3_bind_int64(s, 11, r->at_ms);
        rc = stmt_run(j, s, false, "event");
        return rc ? rc
                  : index_add(j, &j->lg.ev, key_hash(r->event_id),
                              sqlite3_last_insert_rowid(j->db), 0);
}

int jsql_logs_merge_due(struct journal *j, int64_t events_before_ms)
{
        sqlite3_stmt *s;
        int rc;

        if (jsql_logs_pending(j) == 0)
                return 0;
        if (clock_now_ms() - j->lg.merged_at >= JSQL_LOGS_MERGE_MS)
                return 1;
        s = use(j, LG_EV_OLDEST);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
                rc = sqlite3_column_int64(s, 0) < events_before_ms ? 1 : 0;
        else if (rc == SQLITE_DONE)
                rc = 0;
        else
                rc = fail(j, rc, "event log");
        sqlite3_reset(s);
        return rc;
}

size_t jsql_logs_pending(const struct journal *j)
{
        return j->lg.cov.n + j->lg.ev.n;
}

static int run_through(struct journal *j, enum lg_stmt st, int64_t through)
{
        sqlite3_stmt *s = use(j, st);

        sqlite3_bind_int64(s, 1, through);
        return stmt_run(j, s, false, "log merge");
}

/* A log's rows through seq `through`, merged: all of them, as a rule (the
 * merge's transaction synced the index and holds the write lock, so no
 * row is newer), the table emptied whole; the range otherwise. */
static int log_cut(struct journal *j, enum lg_stmt last, enum lg_stmt clear,
                   enum lg_stmt range, int64_t through)
{
        sqlite3_stmt *s = use(j, last);
        int rc = sqlite3_step(s);
        int64_t newest = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;

        sqlite3_reset(s);
        if (rc != SQLITE_ROW)
                return fail(j, rc, "log merge");
        return newest <= through ? stmt_run(j, use(j, clear), false, "log merge")
                                 : run_through(j, range, through);
}

int jsql_logs_merge(struct journal *j)
{
        struct jsql_logs *lg = &j->lg;
        int64_t cov, ev;
        int rc = jsql_begin(j), r;

        if (rc)
                return rc;
        cov = lg->cov.last;
        ev = lg->ev.last;
        rc = run_through(j, LG_COV_MERGE, cov);
        if (rc == 0)
                rc = run_through(j, LG_EV_MERGE, ev);
        /* the logs' freed pages hold rows the tables now have: zeroing them
         * would write the logs a second time */
        if (rc == 0 && (rc = jsql_exec(j, "PRAGMA secure_delete=FAST")) == 0) {
                rc = log_cut(j, LG_COV_LAST, LG_COV_CLEAR, LG_COV_DELETE, cov);
                if (rc == 0)
                        rc = log_cut(j, LG_EV_LAST, LG_EV_CLEAR, LG_EV_DELETE, ev);
                r = jsql_exec(j, "PRAGMA secure_delete=ON");
                rc = rc ? rc : r;
        }
        if (rc == 0)
                rc = stmt_run(j, use(j, LG_MERGES_ADD), false, "log merge");
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc) {
                jsql_rollback(j);
                lg->merges = -1;
                return rc;
        }
        index_clear(&lg->cov);
        index_clear(&lg->ev);
        lg->cov.floor = lg->cov.last = cov;
        lg->ev.floor = lg->ev.last = ev;
        lg->merges++;
        lg->merged_at = clock_now_ms();
        return 0;
}
