#include "nik.h"

#include <string.h>

/* The 38 province codes, Papua's 2022 provinces included. */
static const unsigned char province_codes[] = {
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53,
    61, 62, 63, 64, 65, 71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96,
};

bool nik_province_valid(int code)
{
        for (size_t i = 0; i < sizeof(province_codes); i++)
                if (province_codes[i] == code)
                        return true;
        return false;
}

static int two(const char *p)
{
        return (p[0] - '0') * 10 + (p[1] - '0');
}

static int days_in_month(int month, int year2)
{
        static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

        /* The century is unknown; 00 (2000) is a leap year and 1900 is long
         * past for living workers, so every year divisible by 4 is leap. */
        if (month == 2)
                return year2 % 4 == 0 ? 29 : 28;
        return days[month - 1];
}

int nik_parse(const char *nik, size_t len, struct nik_info *out)
{
        struct nik_info info;

        if (len != NIK_LEN)
                return NIK_ERR_FORMAT;
        for (size_t i = 0; i < NIK_LEN; i++)
                if (nik[i] < '0' || nik[i] > '9')
                        return NIK_ERR_FORMAT;

        info.province = two(nik);
        if (!nik_province_valid(info.province))
                return NIK_ERR_PROVINCE;

        info.day = two(nik + 6);
        info.month = two(nik + 8);
        info.year2 = two(nik + 10);
        info.female = info.day > 40;
        if (info.female)
                info.day -= 40;
        if (info.month < 1 || info.month > 12)
                return NIK_ERR_DATE;
        if (info.day < 1 || info.day > days_in_month(info.month, info.year2))
                return NIK_ERR_DATE;

        *out = info;
        return NIK_OK;
}

const char *nik_mask(const char *nik, char out[NIK_MASKED_SIZE])
{
        size_t len = nik ? strnlen(nik, NIK_LEN + 1) : 0;

        memset(out, '*', NIK_LEN);
        out[NIK_LEN] = '\0';
        if (len == NIK_LEN) {
                memcpy(out, nik, 4);
                memcpy(out + 12, nik + 12, 4);
        }
        return out;
}
