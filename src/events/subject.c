/*
 * subject.c: subjects as text (CPR, CVR, SE) and uploaded lists of them,
 * checked line by line so a recipient's page can name every bad line.
 */
#include <stdio.h>
#include <string.h>

#include "core/ident.h"
#include "events/events.h"

const char *events_kind_word(enum catalog_ident kind)
{
    switch (kind) {
    case CATALOG_IDENT_CPR:
        return "CPR";
    case CATALOG_IDENT_CVR:
        return "CVR";
    case CATALOG_IDENT_SE:
        return "SE";
    case CATALOG_IDENT_NONE:
        break;
    }
    return "?";
}

void events_subject_text(const struct events_subject *s, char *out, size_t cap)
{
    snprintf(out, cap, "%0*lld", s->kind == CATALOG_IDENT_CPR ? CPR_LEN : CVR_LEN,
             (long long)s->number);
}

static bool is_sep(char ch)
{
    return ch == ' ' || ch == '\t' || ch == ';' || ch == ',';
}

static bool word_is(str_t w, const char *upper)
{
    size_t n = strlen(upper);
    if (w.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = w.ptr[i];
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (ch != upper[i])
            return false;
    }
    return true;
}

int events_subject_parse(str_t text, struct events_subject *out, err_t *err)
{
    str_t t = str_trim(text);
    size_t i = 0;
    while (i < t.len && !is_sep(t.ptr[i]))
        i++;
    str_t kind_word = STR_NULL, number = t;
    if (i < t.len) {
        kind_word = (str_t){t.ptr, i};
        while (i < t.len && is_sep(t.ptr[i]))
            i++;
        number = (str_t){t.ptr + i, t.len - i};
    }
    enum catalog_ident kind;
    if (kind_word.ptr == NULL) {
        if (number.len != CPR_LEN)
            return err_set(err, DUPLA_EINVAL,
                           "a number alone is a CPR number (10 digits); write CVR or SE before "
                           "an 8-digit number");
        kind = CATALOG_IDENT_CPR;
    } else if (word_is(kind_word, "CPR")) {
        kind = CATALOG_IDENT_CPR;
    } else if (word_is(kind_word, "CVR")) {
        kind = CATALOG_IDENT_CVR;
    } else if (word_is(kind_word, "SE")) {
        kind = CATALOG_IDENT_SE;
    } else {
        return err_set(err, DUPLA_EINVAL, "the kind is CPR, CVR or SE");
    }
    bool ok = kind == CATALOG_IDENT_CPR   ? ident_cpr_valid(number)
              : kind == CATALOG_IDENT_CVR ? ident_cvr_valid(number)
                                          : ident_se_valid(number);
    if (!ok)
        return err_set(err, DUPLA_EINVAL, "not a %s number%s", events_kind_word(kind),
                       kind == CATALOG_IDENT_CPR   ? " (10 digits, DDMMYY first)"
                       : kind == CATALOG_IDENT_CVR ? " (8 digits with the modulus-11 check)"
                                                   : " (8 digits)");
    int64_t v = 0;
    for (size_t k = 0; k < number.len; k++)
        v = v * 10 + (number.ptr[k] - '0');
    *out = (struct events_subject){kind, v};
    return 0;
}

static void list_problem(struct events_list_problem *problems, size_t max_problems, size_t *n_total,
                         long line, const char *reason)
{
    if (*n_total < max_problems) {
        problems[*n_total].line = line;
        snprintf(problems[*n_total].reason, sizeof problems[*n_total].reason, "%.159s", reason);
    }
    (*n_total)++;
}

int events_list_parse(str_t text, size_t max, arena_t *a, struct events_subject **out, size_t *n,
                      struct events_list_problem *problems, size_t max_problems,
                      size_t *n_problems_total)
{
    *n = 0;
    *n_problems_total = 0;
    /* at most one subject per line: the lines bound the array */
    size_t lines = 1;
    for (size_t i = 0; i < text.len; i++)
        lines += text.ptr[i] == '\n';
    size_t cap = lines < max + 1 ? lines : max + 1;
    *out = arena_alloc(a, (cap + 1) * sizeof **out);
    if (!*out)
        return DUPLA_ENOMEM;
    long lineno = 0;
    bool over = false;
    for (size_t at = 0; at <= text.len;) {
        size_t end = at;
        while (end < text.len && text.ptr[end] != '\n')
            end++;
        str_t line = {text.ptr + at, end - at};
        lineno++;
        at = end + 1;
        if (line.len > 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        str_t t = str_trim(line);
        if (t.len == 0 || t.ptr[0] == '#')
            continue;
        if (t.len > EVENTS_LIST_LINE_MAX) {
            list_problem(problems, max_problems, n_problems_total, lineno,
                         "the line is too long for one subject");
            continue;
        }
        struct events_subject s;
        err_t err;
        if (events_subject_parse(t, &s, &err) != 0) {
            list_problem(problems, max_problems, n_problems_total, lineno, err.detail);
            continue;
        }
        bool seen = false;
        for (size_t k = *n; !seen && k > 0 && k + 64 > *n; k--)
            seen = (*out)[k - 1].kind == s.kind && (*out)[k - 1].number == s.number;
        if (seen)
            continue;
        if (*n >= max) {
            if (!over) {
                char why[160];
                snprintf(why, sizeof why, "more than %zu subjects: the list is too long", max);
                list_problem(problems, max_problems, n_problems_total, lineno, why);
            }
            over = true;
            continue;
        }
        (*out)[(*n)++] = s;
    }
    return *n_problems_total ? DUPLA_EINVAL : 0;
}
