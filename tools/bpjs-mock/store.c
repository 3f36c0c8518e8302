/* store: see store.h. */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

struct participant {
        uint64_t nik;
        uint64_t kpj;
        const char *program; /* interned */
        char *registration_id;
        bool active;
        /* REGISTERED was issued and no DEACTIVATED since: kept apart from
         * active, so that registered_twice checks the dedup instead of
         * repeating it. */
        bool registered;
};

struct idem {
        struct idem *next; /* the next younger key */
        time_t created;
        unsigned char digest[STORE_DIGEST_LEN];
        int status;
        char *body;
        size_t len;
        char key[];
};

struct rid {
        uint64_t key_hash; /* hash of the first Idempotency-Key it came under */
        bool counted;
        char id[];
};

struct store {
        pthread_mutex_t lock;
        unsigned ttl;
        uint64_t next_kpj;
        uint64_t epoch;
        struct participant *people;
        size_t n_people;
        size_t cap_people;
        struct htab by_nik; /* item: index into people, plus one */
        struct htab programs;
        struct htab keys; /* struct idem */
        struct idem *oldest, *youngest;
        struct htab rids; /* struct rid */
        struct store_stats stats;
};

struct nik_key {
        const struct store *s;
        uint64_t nik;
};

static int match_nik(const void *item, const void *key)
{
        const struct nik_key *k = key;

        return k->s->people[(uintptr_t)item - 1].nik == k->nik;
}

static int match_program(const void *item, const void *key)
{
        return !strcmp(item, key);
}

static int match_idem(const void *item, const void *key)
{
        return !strcmp(((const struct idem *)item)->key, key);
}

static int match_rid(const void *item, const void *key)
{
        return !strcmp(((const struct rid *)item)->id, key);
}

static struct participant *find_person(const struct store *s, uint64_t nik)
{
        struct nik_key k = {s, nik};
        void *item = htab_find(&s->by_nik, htab_hash_u64(nik), &k, match_nik);

        return item ? &s->people[(uintptr_t)item - 1] : NULL;
}

static int reserve_people(struct store *s, size_t n)
{
        size_t cap = s->cap_people ? s->cap_people : 1024;
        struct participant *p;

        if (s->n_people + n <= s->cap_people)
                return 0;
        while (cap < s->n_people + n)
                cap *= 2;
        p = realloc(s->people, cap * sizeof(*p));
        if (!p)
                return -ENOMEM;
        s->people = p;
        s->cap_people = cap;
        return 0;
}

/* A new inactive participant; the tables must have room (reserve first). */
static struct participant *add_person(struct store *s, uint64_t nik)
{
        struct participant *p;

        if (htab_add(&s->by_nik, htab_hash_u64(nik),
                     (void *)(uintptr_t)(s->n_people + 1)) < 0)
                return NULL;
        p = &s->people[s->n_people++];
        memset(p, 0, sizeof(*p));
        p->nik = nik;
        return p;
}

static const char *intern(struct store *s, const char *program)
{
        uint64_t h;
        char *copy;

        if (!program)
                return NULL;
        h = htab_hash_str(program);
        copy = htab_find(&s->programs, h, program, match_program);
        if (copy)
                return copy;
        copy = strdup(program);
        if (!copy)
                return NULL;
        if (htab_add(&s->programs, h, copy) < 0) {
                free(copy);
                return NULL;
        }
        return copy;
}

static void activate(struct store *s, struct participant *p, uint64_t kpj,
                     const char *program, const char *registration_id)
{
        p->kpj = kpj;
        p->program = intern(s, program);
        free(p->registration_id);
        p->registration_id = registration_id ? strdup(registration_id) : NULL;
        p->active = true;
        s->stats.active++;
}

static void drop_idem(struct idem *e)
{
        if (!e)
                return;
        free(e->body);
        free(e);
}

static void free_state(struct store *s)
{
        struct idem *e, *next;

        for (size_t i = 0; i < s->n_people; i++)
                free(s->people[i].registration_id);
        s->n_people = 0;
        for (size_t i = 0; s->programs.slots && i <= s->programs.mask; i++)
                free(s->programs.slots[i].item);
        for (size_t i = 0; s->rids.slots && i <= s->rids.mask; i++)
                free(s->rids.slots[i].item);
        for (e = s->oldest; e; e = next) {
                next = e->next;
                drop_idem(e);
        }
        s->oldest = s->youngest = NULL;
}

int store_new(unsigned idempotency_ttl, struct store **ret)
{
        struct store *s = calloc(1, sizeof(*s));
        int r = -ENOMEM;

        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        s->ttl = idempotency_ttl;
        s->next_kpj = STORE_FIRST_KPJ;
        if (htab_init(&s->by_nik) < 0 || htab_init(&s->programs) < 0 ||
            htab_init(&s->keys) < 0 || htab_init(&s->rids) < 0)
                goto out;
        r = 0;
out:
        if (r < 0) {
                store_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void store_free(struct store *s)
{
        if (!s)
                return;
        free_state(s);
        free(s->people);
        htab_fini(&s->by_nik);
        htab_fini(&s->programs);
        htab_fini(&s->keys);
        htab_fini(&s->rids);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

void store_reset(struct store *s)
{
        pthread_mutex_lock(&s->lock);
        free_state(s);
        htab_clear(&s->by_nik);
        htab_clear(&s->programs);
        htab_clear(&s->keys);
        htab_clear(&s->rids);
        memset(&s->stats, 0, sizeof(s->stats));
        s->next_kpj = STORE_FIRST_KPJ;
        s->epoch++;
        pthread_mutex_unlock(&s->lock);
}

/* Keys live ttl seconds; they are kept oldest first, so expiry is O(1) per
 * key. */
static void expire(struct store *s, time_t now)
{
        while (s->oldest && now - s->oldest->created >= (time_t)s->ttl) {
                struct idem *e = s->oldest;

                htab_del(&s->keys, htab_hash_str(e->key), e->key, match_idem);
                s->oldest = e->next;
                if (!s->oldest)
                        s->youngest = NULL;
                drop_idem(e);
                s->stats.idempotency_keys--;
        }
}

static void note_registration_id(struct store *s, const char *id, uint64_t key_hash)
{
        uint64_t h = htab_hash_str(id);
        struct rid *r = htab_find(&s->rids, h, id, match_rid);
        size_t len;

        if (r) {
                if (r->key_hash != key_hash && !r->counted) {
                        r->counted = true;
                        s->stats.multi_key_registration_ids++;
                }
                return;
        }
        len = strlen(id);
        r = malloc(sizeof(*r) + len + 1);
        if (!r)
                return;
        r->key_hash = key_hash;
        r->counted = false;
        memcpy(r->id, id, len + 1);
        if (htab_add(&s->rids, h, r) < 0)
                free(r);
}

static void register_one(struct store *s, struct batch_item *it)
{
        struct participant *p;

        if (it->reason != BATCH_OK) {
                it->status = BATCH_REJECTED;
                s->stats.rejected++;
                return;
        }
        p = find_person(s, it->nik);
        if (p && p->active) {
                it->status = BATCH_ALREADY_REGISTERED;
                it->kpj = p->kpj;
                s->stats.already_registered++;
                return;
        }
        if (!p)
                p = add_person(s, it->nik);
        if (!p) {
                /* Cannot happen after reserve(); answer as if rejected. */
                it->status = BATCH_REJECTED;
                it->reason = BATCH_BAD_NIK;
                s->stats.rejected++;
                return;
        }
        if (p->registered)
                s->stats.registered_twice++;
        activate(s, p, s->next_kpj++, it->program, it->registration_id);
        p->registered = true;
        it->status = BATCH_REGISTERED;
        it->kpj = p->kpj;
        s->stats.registered++;
}

static void deactivate_one(struct store *s, struct batch_item *it)
{
        struct participant *p = find_person(s, it->nik);

        if (!p || !p->active) {
                it->status = BATCH_NOT_FOUND;
                s->stats.not_found++;
                return;
        }
        p->active = false;
        p->registered = false;
        s->stats.active--;
        it->status = BATCH_DEACTIVATED;
        it->kpj = p->kpj;
        s->stats.deactivated++;
}

static int copy_reply(int status, const char *body, size_t len, struct store_reply *reply)
{
        char *copy = malloc(len + 1);

        if (!copy)
                return -ENOMEM;
        memcpy(copy, body, len + 1);
        reply->status = status;
        reply->body = copy;
        reply->len = len;
        return 0;
}

static int process(struct store *s, struct batch *b, const unsigned char *digest,
                   time_t now, struct store_reply *reply)
{
        uint64_t key_hash = htab_hash_str(b->key);
        size_t key_len = strlen(b->key);
        struct idem *e = NULL;
        struct jbuf out;
        int r;

        jbuf_init(&out);
        /* Room first, so that a batch is not left half processed. */
        r = reserve_people(s, b->n);
        if (r == 0)
                r = htab_reserve(&s->by_nik, b->n);
        if (r == 0)
                r = htab_reserve(&s->rids, b->n);
        if (r == 0)
                r = htab_reserve(&s->keys, 1);
        if (r < 0)
                goto out;
        e = calloc(1, sizeof(*e) + key_len + 1);
        if (!e) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < b->n; i++) {
                struct batch_item *it = &b->items[i];

                if (b->kind == BATCH_REGISTRATIONS) {
                        register_one(s, it);
                        if (it->registration_id)
                                note_registration_id(s, it->registration_id, key_hash);
                } else {
                        deactivate_one(s, it);
                }
        }
        batch_render(b, &out);
        r = jbuf_take(&out, &e->body, &e->len);
        if (r < 0)
                goto out;
        r = copy_reply(200, e->body, e->len, reply);
        if (r < 0)
                goto out;
        memcpy(e->key, b->key, key_len + 1);
        memcpy(e->digest, digest, STORE_DIGEST_LEN);
        e->status = 200;
        e->created = now;
        htab_add(&s->keys, key_hash, e); /* cannot fail after the reserve */
        if (s->youngest)
                s->youngest->next = e;
        else
                s->oldest = e;
        s->youngest = e;
        e = NULL;
        s->stats.idempotency_keys++;
        s->stats.batches_processed++;
out:
        drop_idem(e);
        jbuf_free(&out);
        return r;
}

int store_submit(struct store *s, struct batch *b, const unsigned char *digest,
                 time_t now, struct store_reply *reply)
{
        struct idem *e;
        int r;

        pthread_mutex_lock(&s->lock);
        expire(s, now);
        e = htab_find(&s->keys, htab_hash_str(b->key), b->key, match_idem);
        if (!e) {
                r = process(s, b, digest, now, reply);
                if (r == 0)
                        r = STORE_PROCESSED;
        } else if (memcmp(e->digest, digest, STORE_DIGEST_LEN) != 0) {
                s->stats.conflicts_409++;
                r = STORE_CONFLICT;
        } else {
                r = copy_reply(e->status, e->body, e->len, reply);
                if (r == 0) {
                        s->stats.idempotent_replays++;
                        r = STORE_REPLAYED;
                }
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

void store_count_status(struct store *s, int status)
{
        if (status < STORE_STATUS_FIRST ||
            status >= STORE_STATUS_FIRST + STORE_STATUS_SLOTS)
                return;
        pthread_mutex_lock(&s->lock);
        s->stats.by_status[status - STORE_STATUS_FIRST]++;
        pthread_mutex_unlock(&s->lock);
}

void store_count_drop(struct store *s, bool after_processing)
{
        pthread_mutex_lock(&s->lock);
        if (after_processing)
                s->stats.dropped_after++;
        else
                s->stats.dropped++;
        pthread_mutex_unlock(&s->lock);
}

void store_get_stats(struct store *s, struct store_stats *out)
{
        pthread_mutex_lock(&s->lock);
        *out = s->stats;
        pthread_mutex_unlock(&s->lock);
}

int store_add_participant(struct store *s, uint64_t nik, uint64_t kpj,
                          const char *program, const char *registration_id)
{
        struct participant *p;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        p = find_person(s, nik);
        if (p && p->active) {
                r = -EEXIST;
                goto out;
        }
        if (!p) {
                r = reserve_people(s, 1);
                if (r < 0)
                        goto out;
                p = add_person(s, nik);
                if (!p) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (kpj == 0)
                kpj = s->next_kpj++;
        else if (kpj >= s->next_kpj)
                s->next_kpj = kpj + 1;
        activate(s, p, kpj, program, registration_id);
out:
        pthread_mutex_unlock(&s->lock);
        return r;
}

int store_forget_participant(struct store *s, uint64_t nik)
{
        struct participant *p;
        int r = -ENOENT;

        pthread_mutex_lock(&s->lock);
        p = find_person(s, nik);
        if (p && p->active) {
                p->active = false;
                s->stats.active--;
                r = 0;
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static void dump_one(const struct participant *p, struct jbuf *out)
{
        char digits[24];

        snprintf(digits, sizeof(digits), "%016llu", (unsigned long long)p->nik);
        jbuf_puts(out, "{\"nik\":");
        jbuf_str(out, digits);
        snprintf(digits, sizeof(digits), "%011llu", (unsigned long long)p->kpj);
        jbuf_puts(out, ",\"kpj\":");
        jbuf_str(out, digits);
        jbuf_puts(out, ",\"program\":");
        jbuf_str(out, p->program);
        jbuf_puts(out, ",\"registration_id\":");
        jbuf_str(out, p->registration_id);
        jbuf_puts(out, "}");
}

void store_cursor_start(struct store *s, struct store_cursor *c)
{
        pthread_mutex_lock(&s->lock);
        c->epoch = s->epoch;
        pthread_mutex_unlock(&s->lock);
        c->next = 0;
        c->first = true;
}

int store_dump(struct store *s, struct store_cursor *c, struct jbuf *out, size_t budget)
{
        int r;

        pthread_mutex_lock(&s->lock);
        if (c->epoch != s->epoch) {
                r = -ESTALE;
                goto out;
        }
        /* Participants are only ever appended, so an index stays valid. */
        while (c->next < s->n_people && out->len < budget) {
                const struct participant *p = &s->people[c->next++];

                if (!p->active)
                        continue;
                if (!c->first)
                        jbuf_put(out, ",", 1);
                c->first = false;
                dump_one(p, out);
        }
        r = c->next < s->n_people;
out:
        pthread_mutex_unlock(&s->lock);
        return r;
}

int store_dump_nik(struct store *s, uint64_t nik, struct jbuf *out)
{
        const struct participant *p;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        p = find_person(s, nik);
        if (p && p->active) {
                dump_one(p, out);
                r = 1;
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}
