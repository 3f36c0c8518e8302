/* nik: the Indonesian national identity number (NIK) and its rules.
 *
 * 16 digits: PP KK CC DDMMYY SSSS. Province code, regency/city, district,
 * date of birth (day plus 40 for women), serial. There is no check digit. */
#ifndef BPJS_NIK_H
#define BPJS_NIK_H

#include <stdbool.h>
#include <stddef.h>

#define NIK_LEN         16
#define NIK_MASKED_SIZE (NIK_LEN + 1)

/* What a NIK says about its holder. */
struct nik_info {
        int province; /* 11..96 */
        int day;      /* 1..31, women's +40 already removed */
        int month;    /* 1..12 */
        int year2;    /* two-digit year */
        bool female;
};

enum nik_error {
        NIK_OK = 0,
        NIK_ERR_FORMAT = -1,   /* not 16 ASCII digits */
        NIK_ERR_PROVINCE = -2, /* PP is not one of the 38 province codes */
        NIK_ERR_DATE = -3,     /* DDMMYY is not a real date */
};

/* Parses and checks a NIK of exactly len bytes. Returns NIK_OK and fills
 * *out, or a negative nik_error (out untouched). */
int nik_parse(const char *nik, size_t len, struct nik_info *out);

bool nik_province_valid(int code);

/* Writes the masked form (first 4 and last 4 digits, `*` between) of any
 * string into out (NIK_MASKED_SIZE bytes). What is not a 16-byte string is
 * masked entirely, so nothing that looks like a NIK ever leaks. */
const char *nik_mask(const char *nik, char out[NIK_MASKED_SIZE]);

#endif
