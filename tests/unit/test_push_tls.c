/* TLS failures (docs/operations.md, "TLS failures"): which of curl's errors
 * are a TLS refusal, handled like a 401 (one alert, slow probing, not
 * ready), and which stay transient. One row a rule; detail is curl's
 * CURLOPT_ERRORBUFFER text as its OpenSSL backend writes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <cmocka.h>

#include "push/push.h"

static const struct {
        const char *meaning;
        int curl_code;
        const char *detail;
        enum push_outcome want;
} rows[] = {
    {"unknown CA: refused", CURLE_PEER_FAILED_VERIFICATION,
     "SSL certificate problem: unable to get local issuer certificate", PUSH_TLS},
    {"wrong host name: refused", CURLE_PEER_FAILED_VERIFICATION,
     "SSL: no alternative certificate subject name matches target host name "
     "'127.0.0.1'",
     PUSH_TLS},
    {"expired certificate: refused", CURLE_PEER_FAILED_VERIFICATION,
     "SSL certificate problem: certificate has expired", PUSH_TLS},
    {"no detail at all: still refused", CURLE_PEER_FAILED_VERIFICATION, NULL, PUSH_TLS},
    {"bpjs.tls.ca_file unreadable or not PEM: refused", CURLE_SSL_CACERT_BADFILE,
     "error setting certificate file: /etc/bpjs/ca.pem", PUSH_TLS},
    {"bpjs.tls.client_cert or client_key bad: refused", CURLE_SSL_CERTPROBLEM,
     "could not load PEM client certificate from /etc/bpjs/client.pem", PUSH_TLS},
    {"client certificate required in the handshake: refused", CURLE_SSL_CLIENTCERT, NULL,
     PUSH_TLS},
    {"issuer check failed: refused", CURLE_SSL_ISSUER_ERROR, NULL, PUSH_TLS},
    {"pinned key differs: refused", CURLE_SSL_PINNEDPUBKEYNOTMATCH, NULL, PUSH_TLS},
    {"no usable cipher: refused", CURLE_SSL_CIPHER, NULL, PUSH_TLS},
    {"TLS 1.3: no client certificate, alert on the first read: refused", CURLE_RECV_ERROR,
     "OpenSSL SSL_read: OpenSSL/3.0.19: error:0A00045C:SSL routines::tlsv13 alert "
     "certificate required, errno 0",
     PUSH_TLS},
    {"TLS 1.3: client certificate of another CA: refused", CURLE_RECV_ERROR,
     "OpenSSL SSL_read: OpenSSL/3.0.19: error:0A000412:SSL routines::sslv3 alert bad "
     "certificate, errno 0",
     PUSH_TLS},
    {"TLS 1.2: our certificate refused in the handshake: refused",
     CURLE_SSL_CONNECT_ERROR,
     "OpenSSL/3.0.19: error:0A000418:SSL routines::tlsv1 alert unknown ca", PUSH_TLS},
    {"handshake: our certificate expired: refused", CURLE_SSL_CONNECT_ERROR,
     "error:0A000415:SSL routines::sslv3 alert certificate expired", PUSH_TLS},
    {"handshake: access denied: refused", CURLE_SSL_CONNECT_ERROR,
     "error:0A000419:SSL routines::tlsv1 alert access denied", PUSH_TLS},
    {"handshake reset by the peer: transient", CURLE_SSL_CONNECT_ERROR,
     "OpenSSL SSL_connect: Connection reset by peer in connection to 127.0.0.1:443",
     PUSH_RETRY},
    {"handshake cut off: transient", CURLE_SSL_CONNECT_ERROR,
     "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 127.0.0.1:443", PUSH_RETRY},
    {"handshake without detail: transient", CURLE_SSL_CONNECT_ERROR, NULL, PUSH_RETRY},
    {"connection reset while reading: transient", CURLE_RECV_ERROR,
     "Recv failure: Connection reset by peer", PUSH_RETRY},
    {"send failure: transient", CURLE_SEND_ERROR, "Send failure: Broken pipe",
     PUSH_RETRY},
    {"timeout naming a certificate in its text: transient", CURLE_OPERATION_TIMEDOUT,
     "alert bad certificate", PUSH_RETRY},
    {"connection refused: transient", CURLE_COULDNT_CONNECT,
     "Failed to connect to 127.0.0.1 port 443: Connection refused", PUSH_RETRY},
};

static void test_tls_refusals_and_transient_failures(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                enum push_outcome got =
                    push_classify_detail(0, rows[i].curl_code, rows[i].detail);
                if (got != rows[i].want)
                        fail_msg("%s: got %s, want %s", rows[i].meaning,
                                 push_outcome_name(got), push_outcome_name(rows[i].want));
        }
}

static void test_classify_without_detail_agrees(void **state)
{
        (void)state;
        /* the two-argument form is the same table with no detail */
        assert_int_equal(push_classify(0, CURLE_PEER_FAILED_VERIFICATION), PUSH_TLS);
        assert_int_equal(push_classify(0, CURLE_RECV_ERROR), PUSH_RETRY);
        assert_int_equal(push_classify(200, CURLE_OK), PUSH_OK);
        assert_int_equal(push_classify(401, CURLE_OK), PUSH_AUTH);
        assert_string_equal(push_outcome_name(PUSH_TLS), "tls");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tls_refusals_and_transient_failures),
            cmocka_unit_test(test_classify_without_detail_agrees),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
