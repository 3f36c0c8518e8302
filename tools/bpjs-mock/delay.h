/* delay: answers slowly without holding a server thread. A request that the
 * slow fault picked is suspended and parked here; one timer thread resumes it
 * when its time is up, and libmicrohttpd then calls the handler again. */
#ifndef BPJS_MOCK_DELAY_H
#define BPJS_MOCK_DELAY_H

#include <microhttpd.h>

struct delay;

int delay_start(struct delay **ret);
/* Suspends connection (from its access handler) for ms milliseconds. 0, or
 * -ESHUTDOWN once delay_stop() has begun (the caller answers at once), or
 * -ENOMEM. */
int delay_park(struct delay *d, struct MHD_Connection *connection, unsigned ms);
/* Resumes everything still parked and stops the timer thread; call it before
 * MHD_stop_daemon(), which must not meet a suspended connection. */
void delay_stop(struct delay *d);

#endif
