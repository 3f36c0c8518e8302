/* sign: the request signature of the BPJS contract.
 *
 * X-Signature = base64(HMAC-SHA256(key = secret, message = cons_id "&" timestamp)).
 * Used by the daemon to sign and by bpjs-mock to verify.
 */
#ifndef BPJS_SIGN_H
#define BPJS_SIGN_H

#include <stddef.h>

/* Size of the buffer a signature needs: 44 base64 characters and the NUL. */
#define SIGN_SIZE 45

/* Writes the NUL-terminated signature into out. Returns 0, -EINVAL for a NULL
 * argument or an empty secret, -ENOSPC when out_size < SIGN_SIZE, or -EIO when
 * libcrypto fails. out is written only on success. */
int sign_compute(const char *cons_id, const char *timestamp, const unsigned char *secret,
                 size_t secret_len, char *out, size_t out_size);

/* Checks signature against the expected one in constant time (for equal
 * lengths). Returns 0 when it matches, -EACCES when it does not, or an error of
 * sign_compute(). */
int sign_verify(const char *cons_id, const char *timestamp, const unsigned char *secret,
                size_t secret_len, const char *signature);

#endif
