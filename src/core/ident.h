/*
 * ident.h: the Danish identifiers the platform keys data by.
 *
 * CPR: DDMMYYSSSS, 10 digits, persons. A substitute (test) number has 60
 * added to the day of month. CVR: 8 digits with a modulus-11 check, companies.
 * SE: 8 digits, a company's VAT/settlement unit.
 */
#ifndef DUPLA_CORE_IDENT_H
#define DUPLA_CORE_IDENT_H

#include <stdbool.h>

#include "core/str.h"

#define CPR_LEN 10
#define CVR_LEN 8
#define SE_LEN  8

/* 8 digits, not starting with 0, and the weighted sum (2,7,6,5,4,3,2,1) is a
 * multiple of 11. */
bool ident_cvr_valid(str_t s);
/* 10 digits whose first six form a date DDMMYY, with the day either 1-31 or,
 * for a substitute number, 61-91. No modulus-11 check: it was dropped for
 * numbers issued since 2007. */
bool ident_cpr_valid(str_t s);
/* true if s is a valid CPR in the substitute form (day of month + 60). */
bool ident_cpr_is_substitute(str_t s);
/* 8 digits, not starting with 0. */
bool ident_se_valid(str_t s);

#endif
