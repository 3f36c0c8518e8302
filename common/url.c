#include "url.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

static bool is_loopback_host(const char *host)
{
        struct in_addr a4;
        struct in6_addr a6;
        char inner[INET6_ADDRSTRLEN + 1];
        size_t n = strlen(host);

        if (strcasecmp(host, "localhost") == 0)
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (n < 3 || n - 2 >= sizeof(inner) || host[0] != '[' || host[n - 1] != ']')
                return false;
        memcpy(inner, host + 1, n - 2);
        inner[n - 2] = '\0';
        return inet_pton(AF_INET6, inner, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static bool url_has(CURLU *u, CURLUPart part)
{
        char *s = NULL;
        CURLUcode rc = curl_url_get(u, part, &s, 0);
        curl_free(s);
        return rc == CURLUE_OK;
}

const char *url_problem(const char *url, bool proxy, const char **detail)
{
        static const char *const proxy_schemes[] = {"http",    "https",  "socks4",
                                                    "socks4a", "socks5", "socks5h"};
        const char *authority = strstr(url, "://");
        char *scheme = NULL, *host = NULL, *path = NULL;
        CURLU *u = curl_url();
        CURLUcode uc;
        const char *r = NULL;

        *detail = "";
        if (!u)
                return "cannot be read: out of memory";
        /* the scheme is written, never guessed */
        if (!authority || !isalpha((unsigned char)url[0]) ||
            strspn(url,
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-") !=
                (size_t)(authority - url)) {
                r = proxy ? "must start with its scheme (http://, https://, "
                            "socks5h://...)"
                          : "must start with https:// or http://";
                goto out;
        }
        uc = curl_url_set(u, CURLUPART_URL, url, proxy ? CURLU_NON_SUPPORT_SCHEME : 0);
        if (uc != CURLUE_OK) {
                r = "is not a URL libcurl accepts: ";
                *detail = curl_url_strerror(uc);
                goto out;
        }
        /* userinfo, even an empty one: "http://localhost:80@host/" goes to host */
        if (url_has(u, CURLUPART_USER) || url_has(u, CURLUPART_PASSWORD) ||
            url_has(u, CURLUPART_OPTIONS) ||
            memchr(authority + 3, '@', strcspn(authority + 3, "/?#"))) {
                r = "must not hold a user name or password (user:password@host): "
                    "they would be shown in logs and --check-config";
                goto out;
        }
        if (url_has(u, CURLUPART_QUERY) || url_has(u, CURLUPART_FRAGMENT) ||
            strpbrk(url, "?#")) {
                r = proxy ? "must not have a query or fragment"
                          : "must not have a query or fragment (the API paths "
                            "/v1/... are appended to it)";
                goto out;
        }
        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
                r = "is not a URL with a scheme and a host";
                goto out;
        }
        if (proxy) {
                bool known = false;
                for (size_t i = 0; i < sizeof(proxy_schemes) / sizeof(*proxy_schemes);
                     i++)
                        known = known || strcasecmp(scheme, proxy_schemes[i]) == 0;
                if (!known)
                        r = "must be an http, https, socks4, socks4a, socks5 or "
                            "socks5h URL";
                else if (strcmp(path, "/") != 0)
                        r = "must not have a path (scheme://host:port)";
                goto out;
        }
        if (strcasecmp(scheme, "https") == 0)
                goto out;
        if (strcasecmp(scheme, "http") != 0)
                r = "must start with https:// or http://";
        else if (!is_loopback_host(host))
                r = "plain http is refused except to localhost, 127.0.0.0/8 or "
                    "[::1]: use https://";
out:
        curl_free(scheme);
        curl_free(host);
        curl_free(path);
        curl_url_cleanup(u);
        return r;
}
