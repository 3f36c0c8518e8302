/* url: the rules an endpoint or proxy URL must follow before the daemon
 * sends anything to it, checked on the URL as libcurl reads it (the parser
 * that sends the requests), so what is checked is what is connected to.
 *
 * An endpoint (bpjs.base_url): https anywhere; plain http only to exactly
 * `localhost` (any case) or a loopback address literal (127.0.0.0/8, [::1]),
 * with no key to override it; never a user name or password (the URL is
 * printed in logs and --check-config); never a query or fragment (the API
 * paths /v1/... are appended to it). A proxy (bpjs.proxy) follows the same
 * rules with the socks schemes too, http to any host (it tunnels TLS), and
 * no path. Messages never quote the URL: it may hold a password. */
#ifndef BPJS_URL_H
#define BPJS_URL_H

#include <stdbool.h>

/* NULL when url follows the rules, else what is wrong; *detail is then
 * libcurl's own words to append, or "". */
const char *url_problem(const char *url, bool proxy, const char **detail);

#endif
