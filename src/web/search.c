/*
 * search.c: the disclosure pages' input parsing (see search.h).
 */
#include "web/search.h"

#include <string.h>

#include "core/clock.h"

static bool digits_at(str_t s, size_t from, size_t n)
{
    for (size_t i = from; i < from + n; i++)
        if (i >= s.len || s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

static int number_at(str_t s, size_t from, size_t n)
{
    int v = 0;
    for (size_t i = from; i < from + n; i++)
        v = v * 10 + (s.ptr[i] - '0');
    return v;
}

enum web_search_result web_search_date(str_t s, int32_t *days)
{
    int y, m, d;
    if (s.len != 10)
        return WEB_SEARCH_FORM;
    char sep = s.ptr[2];
    if ((sep == '-' || sep == '.' || sep == '/') && s.ptr[5] == sep && digits_at(s, 0, 2) &&
        digits_at(s, 3, 2) && digits_at(s, 6, 4)) {
        d = number_at(s, 0, 2);
        m = number_at(s, 3, 2);
        y = number_at(s, 6, 4);
    } else if (s.ptr[4] == '-' && s.ptr[7] == '-' && digits_at(s, 0, 4) && digits_at(s, 5, 2) &&
               digits_at(s, 8, 2)) {
        y = number_at(s, 0, 4);
        m = number_at(s, 5, 2);
        d = number_at(s, 8, 2);
    } else {
        return WEB_SEARCH_FORM;
    }
    if (!clock_valid_date(y, m, d))
        return WEB_SEARCH_INVALID;
    *days = clock_days_from_civil(y, m, d);
    return WEB_SEARCH_OK;
}

enum web_search_result web_search_cpr(str_t s, char out[CPR_LEN + 1])
{
    char n[CPR_LEN + 1];
    if (s.len == CPR_LEN && digits_at(s, 0, CPR_LEN)) {
        memcpy(n, s.ptr, CPR_LEN);
    } else if (s.len == CPR_LEN + 1 && s.ptr[6] == '-' && digits_at(s, 0, 6) &&
               digits_at(s, 7, 4)) {
        memcpy(n, s.ptr, 6);
        memcpy(n + 6, s.ptr + 7, 4);
    } else {
        return WEB_SEARCH_FORM;
    }
    n[CPR_LEN] = '\0';
    if (!ident_cpr_valid((str_t){n, CPR_LEN}))
        return WEB_SEARCH_INVALID;
    memcpy(out, n, sizeof n);
    return WEB_SEARCH_OK;
}

enum web_search_result web_search_cvr(str_t s, char out[CVR_LEN + 1])
{
    if (s.len != CVR_LEN || !digits_at(s, 0, CVR_LEN))
        return WEB_SEARCH_FORM;
    if (!ident_cvr_valid(s))
        return WEB_SEARCH_INVALID;
    memcpy(out, s.ptr, CVR_LEN);
    out[CVR_LEN] = '\0';
    return WEB_SEARCH_OK;
}

enum web_search_result web_search_se(str_t s, char out[SE_LEN + 1])
{
    if (s.len != SE_LEN || !digits_at(s, 0, SE_LEN))
        return WEB_SEARCH_FORM;
    if (!ident_se_valid(s))
        return WEB_SEARCH_INVALID;
    memcpy(out, s.ptr, SE_LEN);
    out[SE_LEN] = '\0';
    return WEB_SEARCH_OK;
}

enum web_search_result web_search_agreement_id(str_t s, char out[AGREEMENT_ID_LEN + 1])
{
    if (s.len != AGREEMENT_ID_LEN)
        return WEB_SEARCH_FORM;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return WEB_SEARCH_FORM;
        out[i] = c;
    }
    out[AGREEMENT_ID_LEN] = '\0';
    return WEB_SEARCH_OK;
}
