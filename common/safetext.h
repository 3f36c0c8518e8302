/* safetext: text from outside (the endpoint's answers, events) made safe for
 * a person to read: NIKs masked in any spelling, control characters escaped,
 * the length bounded. docs/operations.md ("What a person reads") says the
 * same rules for operators.
 *
 * NIK-like text (safetext_mask): a run of ASCII digits in groups joined by
 * single separators (space, tab, '-', '.', '/', '_', NBSP U+00A0, thin
 * space U+2009, narrow NBSP U+202F, the dashes U+2010..U+2015) that holds 16
 * digits or more is masked: its first 4 and last 4 digits stay, every other
 * digit becomes '*', and the separators stay where they were
 * ("6471 0127 1282 8100" -> "6471 **** **** 8100", the shape nik_mask gives
 * a NIK). Two separators in a row end a run, so "1. 2." or "12, 13" are
 * counts, not a NIK. The project's own batch and registration ids
 * ("b-" or "r-", 8 hex digits, '-', 12 digits) are skipped whole: they are
 * never a NIK and operators need them.
 *
 * A cut (text truncated at a buffer or line limit, by the caller or before
 * it) may have removed the end of a NIK, so a run that reaches a cut with 8
 * or more digits keeps only its first 4: a masked NIK shows 8 digits (4 and
 * 4), and a run of fewer than 8 shows no more than province, regency and
 * district; 8 or more would start showing the date of birth. The natural end
 * of a whole text is not a cut: an 11-digit kpj at the end of a reason stays.
 *
 * Escaping (safetext_escape): every byte that is not printable ASCII or part
 * of valid, printable UTF-8 is written as text: "\n", "\r", "\t", and "\xNN"
 * for the other C0 controls, DEL, invalid UTF-8 bytes, and each byte of a C1
 * control (U+0080..U+009F), a line or paragraph separator (U+2028, U+2029)
 * or a bidirectional override (U+202A..U+202E, U+2066..U+2069). A backslash
 * is left as it is, so escaping escaped text changes nothing: text made safe
 * where it enters reads the same in the log and in bpjs-syncctl.
 *
 * Masking comes before cutting, so a NIK is masked whole before any limit
 * applies, and once more after escaping: an escape such as "\x01" shows
 * digits of its own, which must not join the digits after it into
 * something that reads like a NIK. So the whole rule is idempotent. */
#ifndef BPJS_SAFETEXT_H
#define BPJS_SAFETEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define SAFETEXT_NIK_DIGITS 16
#define SAFETEXT_CUT_DIGITS 8
/* What safetext_json_text keeps of an endpoint's text, in bytes. */
#define SAFETEXT_REASON_MAX 256

/* Masks NIK-like text in s (len bytes; NUL bytes end nothing) in place; cut
 * says that s was cut at its end. Lengths never change. */
void safetext_mask(char *s, size_t len, bool cut);

/* Writes src (len bytes) escaped into dst (size >= 4 bytes), always
 * NUL-terminated. What does not fit is cut at a character or escape
 * boundary and "..." ends dst. Returns true when all of src fit. Masks
 * nothing: mask before, and after. */
bool safetext_escape(const char *src, size_t len, char *dst, size_t size);

/* Masks (src is cut when `cut`), escapes and bounds src into dst: the whole
 * rule for text from outside. dst is NUL-terminated; returns dst. */
const char *safetext_clean(const char *src, size_t len, bool cut, char *dst, size_t size);

/* The string member `name` of obj, made safe in place (masked, escaped, at
 * most SAFETEXT_REASON_MAX bytes), or NULL when obj has no such string
 * member (or on a memory failure, which drops the text). For the endpoint's
 * reasons and messages, where they enter. */
const char *safetext_json_text(cJSON *obj, const char *name);

/* Escapes every string in the tree (keys are the caller's own) and, unless
 * reveal, masks NIK-like text in it: what bpjs-syncctl --json prints.
 * Returns 0 or -ENOMEM. */
int safetext_json_tree(cJSON *tree, bool reveal);

#endif
