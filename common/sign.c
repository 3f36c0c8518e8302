/* sign: HMAC-SHA256 request signatures, see sign.h. */
#include "sign.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define DIGEST_LEN 32

static int hmac_sha256(const unsigned char *key, size_t key_len, const char *cons_id,
                       const char *timestamp, unsigned char md[DIGEST_LEN])
{
        char digest_name[] = "SHA256";
        OSSL_PARAM params[2];
        EVP_MAC *mac = NULL;
        EVP_MAC_CTX *ctx = NULL;
        size_t md_len = 0;
        int r = -EIO;

        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (!mac)
                goto out;
        ctx = EVP_MAC_CTX_new(mac);
        if (!ctx)
                goto out;
        params[0] =
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0);
        params[1] = OSSL_PARAM_construct_end();
        if (EVP_MAC_init(ctx, key, key_len, params) != 1)
                goto out;
        if (EVP_MAC_update(ctx, (const unsigned char *)cons_id, strlen(cons_id)) != 1 ||
            EVP_MAC_update(ctx, (const unsigned char *)"&", 1) != 1 ||
            EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) != 1)
                goto out;
        if (EVP_MAC_final(ctx, md, &md_len, DIGEST_LEN) != 1 || md_len != DIGEST_LEN)
                goto out;
        r = 0;
out:
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(mac);
        return r;
}

int sign_compute(const char *cons_id, const char *timestamp, const unsigned char *secret,
                 size_t secret_len, char *out, size_t out_size)
{
        unsigned char md[DIGEST_LEN];
        unsigned char b64[SIGN_SIZE];
        int r;

        if (!cons_id || !timestamp || !secret || secret_len == 0 || !out)
                return -EINVAL;
        if (out_size < SIGN_SIZE)
                return -ENOSPC;
        r = hmac_sha256(secret, secret_len, cons_id, timestamp, md);
        if (r < 0)
                goto out;
        if (EVP_EncodeBlock(b64, md, DIGEST_LEN) != SIGN_SIZE - 1) {
                r = -EIO;
                goto out;
        }
        memcpy(out, b64, SIGN_SIZE);
out:
        OPENSSL_cleanse(md, sizeof(md));
        return r;
}

int sign_verify(const char *cons_id, const char *timestamp, const unsigned char *secret,
                size_t secret_len, const char *signature)
{
        char expected[SIGN_SIZE];
        int r;

        if (!signature)
                return -EINVAL;
        r = sign_compute(cons_id, timestamp, secret, secret_len, expected,
                         sizeof(expected));
        if (r < 0)
                return r;
        /* The length of a signature is public; only its content is compared in
         * constant time. */
        if (strnlen(signature, SIGN_SIZE) != SIGN_SIZE - 1 ||
            CRYPTO_memcmp(expected, signature, SIGN_SIZE - 1) != 0)
                r = -EACCES;
        OPENSSL_cleanse(expected, sizeof(expected));
        return r;
}
