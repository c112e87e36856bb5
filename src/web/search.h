/*
 * search.h: the disclosure pages' input parsing (pages_disclosure.c), kept
 * apart so that the unit tests reach it: dates as typed in Denmark, and
 * CPR/CVR/SE numbers and agreement ids, each checked with core's ident
 * rules and normalised into a caller's buffer.
 *
 * Every function answers WEB_SEARCH_OK, WEB_SEARCH_FORM (not in the form
 * asked for: wrong length, a letter, a wrong separator) or
 * WEB_SEARCH_INVALID (the right form, but no such date or number), so that
 * the page can say which.
 */
#ifndef DUPLA_WEB_SEARCH_H
#define DUPLA_WEB_SEARCH_H

#include <stdint.h>

#include "agreement/agreement.h"
#include "core/ident.h"
#include "core/str.h"

enum web_search_result { WEB_SEARCH_OK = 0, WEB_SEARCH_FORM = 1, WEB_SEARCH_INVALID = 2 };

/* A date as dd-mm-åååå (the form the pages hint; '.' or '/' also separate)
 * or åååå-mm-dd (ISO, as the API takes it), into days since 1970-01-01. */
enum web_search_result web_search_date(str_t s, int32_t *days);
/* A CPR number, ddmmååxxxx or ddmmåå-xxxx, into out (10 digits + NUL). */
enum web_search_result web_search_cpr(str_t s, char out[CPR_LEN + 1]);
/* A CVR number (8 digits, modulus 11) into out. */
enum web_search_result web_search_cvr(str_t s, char out[CVR_LEN + 1]);
/* An SE number (8 digits, not starting with 0) into out. */
enum web_search_result web_search_se(str_t s, char out[SE_LEN + 1]);
/* An agreement id (32 hex digits, either case) into out, lower case. */
enum web_search_result web_search_agreement_id(str_t s, char out[AGREEMENT_ID_LEN + 1]);

#endif
