/* delay: see delay.h. A binary min-heap of deadlines under one mutex. */
#include "delay.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct parked {
        uint64_t deadline_ns;
        struct MHD_Connection *connection;
};

struct delay {
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_t thread;
        struct parked *heap;
        size_t count;
        size_t cap;
        bool stopping;
};

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void swap(struct parked *a, struct parked *b)
{
        struct parked t = *a;

        *a = *b;
        *b = t;
}

static void sift_up(struct delay *d, size_t i)
{
        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (d->heap[parent].deadline_ns <= d->heap[i].deadline_ns)
                        break;
                swap(&d->heap[parent], &d->heap[i]);
                i = parent;
        }
}

static void sift_down(struct delay *d, size_t i)
{
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;

                if (l < d->count && d->heap[l].deadline_ns < d->heap[m].deadline_ns)
                        m = l;
                if (r < d->count && d->heap[r].deadline_ns < d->heap[m].deadline_ns)
                        m = r;
                if (m == i)
                        return;
                swap(&d->heap[m], &d->heap[i]);
                i = m;
        }
}

static struct MHD_Connection *pop(struct delay *d)
{
        struct MHD_Connection *c = d->heap[0].connection;

        d->heap[0] = d->heap[--d->count];
        sift_down(d, 0);
        return c;
}

static void *run(void *arg)
{
        struct delay *d = arg;

        pthread_mutex_lock(&d->lock);
        while (!d->stopping) {
                uint64_t now = now_ns();
                struct timespec until;

                if (d->count == 0) {
                        pthread_cond_wait(&d->wake, &d->lock);
                        continue;
                }
                if (d->heap[0].deadline_ns <= now) {
                        MHD_resume_connection(pop(d));
                        continue;
                }
                until.tv_sec = (time_t)(d->heap[0].deadline_ns / 1000000000ULL);
                until.tv_nsec = (long)(d->heap[0].deadline_ns % 1000000000ULL);
                pthread_cond_timedwait(&d->wake, &d->lock, &until);
        }
        pthread_mutex_unlock(&d->lock);
        return NULL;
}

int delay_start(struct delay **ret)
{
        pthread_condattr_t attr;
        struct delay *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        pthread_mutex_init(&d->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&d->wake, &attr);
        pthread_condattr_destroy(&attr);
        r = -pthread_create(&d->thread, NULL, run, d);
        if (r < 0) {
                pthread_cond_destroy(&d->wake);
                pthread_mutex_destroy(&d->lock);
                free(d);
                return r;
        }
        *ret = d;
        return 0;
}

int delay_park(struct delay *d, struct MHD_Connection *connection, unsigned ms)
{
        int r = 0;

        pthread_mutex_lock(&d->lock);
        if (d->stopping) {
                r = -ESHUTDOWN;
                goto out;
        }
        if (d->count == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 64;
                struct parked *heap = realloc(d->heap, cap * sizeof(*heap));

                if (!heap) {
                        r = -ENOMEM;
                        goto out;
                }
                d->heap = heap;
                d->cap = cap;
        }
        /* Suspend under the lock, so the timer cannot resume the connection
         * before it is suspended. */
        MHD_suspend_connection(connection);
        d->heap[d->count].deadline_ns = now_ns() + (uint64_t)ms * 1000000ULL;
        d->heap[d->count].connection = connection;
        sift_up(d, d->count++);
        pthread_cond_signal(&d->wake);
out:
        pthread_mutex_unlock(&d->lock);
        return r;
}

void delay_stop(struct delay *d)
{
        if (!d)
                return;
        pthread_mutex_lock(&d->lock);
        d->stopping = true;
        while (d->count > 0)
                MHD_resume_connection(pop(d));
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d->heap);
        free(d);
}
