/* sign: known vectors computed independently with
 *   printf 'CONS&TS' | openssl dgst -sha256 -hmac SECRET -binary | base64
 * (and -macopt hexkey: for the binary secret). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sign.h"

struct vector {
        const char *name;
        const char *cons_id;
        const char *timestamp;
        const char *secret;
        size_t secret_len;
        const char *expected;
};

#define TEXT(s) s, sizeof(s) - 1

static const struct vector vectors[] = {
    {"brief example", "1001", "1700000000", TEXT("SECRET"),
     "L07QhBt4ucZrK0ZVxkw6zKj/srj8NE1YNtY0LxwuS8c="},
    {"another consumer and secret", "12345", "1735689600", TEXT("kunci-rahasia-uji"),
     "MTvGPdI5vFbmulQpThMwvO2vqM9iN5JvOUMf0w9/o60="},
    {"one-character secret, timestamp 0", "1001", "0", TEXT("x"),
     "yCdxRC2SLSJcgbeeXAlbfrzHCrn808MwhNp50Jv/hGY="},
    {"secret longer than the SHA-256 block is hashed first", "999", "1700000300",
     TEXT("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
          "kkkkkkkkkkkkkkkkkkkkkkkk"),
     "41xplDX5rEOy2QeclJ1kgbj/c1Woz0xajaCFo1ebpdQ="},
    {"binary secret with a NUL byte", "7", "1", TEXT("\x00\xff\x10"),
     "gcgdaW0IsS6KMoPmGpmKRY7p9s6+5/gYaRMiCRtbwrE="},
};

static void compute_matches_openssl(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                const struct vector *v = &vectors[i];
                char out[SIGN_SIZE];

                print_message("vector: %s\n", v->name);
                assert_int_equal(sign_compute(v->cons_id, v->timestamp,
                                              (const unsigned char *)v->secret,
                                              v->secret_len, out, sizeof(out)),
                                 0);
                assert_string_equal(out, v->expected);
        }
}

static void verify_accepts_the_right_signature(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                const struct vector *v = &vectors[i];

                assert_int_equal(sign_verify(v->cons_id, v->timestamp,
                                             (const unsigned char *)v->secret,
                                             v->secret_len, v->expected),
                                 0);
        }
}

static void verify_rejects_wrong_signatures(void **state)
{
        const struct vector *v = &vectors[0];
        const unsigned char *secret = (const unsigned char *)v->secret;
        char flipped[SIGN_SIZE];

        (void)state;
        memcpy(flipped, v->expected, SIGN_SIZE);
        flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
        /* one character changed */
        assert_int_equal(
            sign_verify(v->cons_id, v->timestamp, secret, v->secret_len, flipped),
            -EACCES);
        /* another vector's signature */
        assert_int_equal(sign_verify(v->cons_id, v->timestamp, secret, v->secret_len,
                                     vectors[1].expected),
                         -EACCES);
        /* a prefix, an extension, the empty string */
        assert_int_equal(sign_verify(v->cons_id, v->timestamp, secret, v->secret_len,
                                     "L07QhBt4ucZrK0ZVxkw6zKj/srj8NE1YNtY0LxwuS8c"),
                         -EACCES);
        assert_int_equal(sign_verify(v->cons_id, v->timestamp, secret, v->secret_len,
                                     "L07QhBt4ucZrK0ZVxkw6zKj/srj8NE1YNtY0LxwuS8c=="),
                         -EACCES);
        assert_int_equal(sign_verify(v->cons_id, v->timestamp, secret, v->secret_len, ""),
                         -EACCES);
        /* right signature, other timestamp, other consumer, other secret */
        assert_int_equal(
            sign_verify(v->cons_id, "1700000001", secret, v->secret_len, v->expected),
            -EACCES);
        assert_int_equal(
            sign_verify("1002", v->timestamp, secret, v->secret_len, v->expected),
            -EACCES);
        assert_int_equal(sign_verify(v->cons_id, v->timestamp,
                                     (const unsigned char *)"SECRET2", 7, v->expected),
                         -EACCES);
}

static void out_too_small_is_enospc_and_untouched(void **state)
{
        char out[SIGN_SIZE];
        const struct vector *v = &vectors[0];

        (void)state;
        memset(out, '#', sizeof(out));
        assert_int_equal(sign_compute(v->cons_id, v->timestamp,
                                      (const unsigned char *)v->secret, v->secret_len,
                                      out, SIGN_SIZE - 1),
                         -ENOSPC);
        for (size_t i = 0; i < sizeof(out); i++)
                assert_int_equal(out[i], '#');
}

static void bad_arguments_are_einval(void **state)
{
        const unsigned char *secret = (const unsigned char *)"SECRET";
        char out[SIGN_SIZE];

        (void)state;
        assert_int_equal(sign_compute(NULL, "1", secret, 6, out, sizeof(out)), -EINVAL);
        assert_int_equal(sign_compute("1", NULL, secret, 6, out, sizeof(out)), -EINVAL);
        assert_int_equal(sign_compute("1", "1", NULL, 6, out, sizeof(out)), -EINVAL);
        assert_int_equal(sign_compute("1", "1", secret, 0, out, sizeof(out)), -EINVAL);
        assert_int_equal(sign_compute("1", "1", secret, 6, NULL, sizeof(out)), -EINVAL);
        assert_int_equal(sign_verify("1", "1", secret, 6, NULL), -EINVAL);
        assert_int_equal(sign_verify("1", "1", secret, 0, "x"), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(compute_matches_openssl),
            cmocka_unit_test(verify_accepts_the_right_signature),
            cmocka_unit_test(verify_rejects_wrong_signatures),
            cmocka_unit_test(out_too_small_is_enospc_and_untouched),
            cmocka_unit_test(bad_arguments_are_einval),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
