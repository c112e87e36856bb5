/*
 * text.c: the small text helpers the module shares: cleaning untrusted text
 * into valid UTF-8 within a byte limit, addresses, incident ids, and the
 * names of types, statuses and channels (with the trigger rule).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/ident.h"
#include "incident/internal.h"

static const struct {
    const char *name, *trigger;
    enum environment env;
} types[INCIDENT_TYPE_COUNT] = {
    [INCIDENT_PROD_DATA] = {"Prod-Data", "DUPLA-Prod-Data", ENV_PRODUCTION},
    [INCIDENT_PROD_AFTALE] = {"Prod-Aftale", "DUPLA-Prod-Aftale", ENV_PRODUCTION},
    [INCIDENT_TFE] = {"TFE", "DUPLA-TFE", ENV_TEST},
};

static const char *const status_names[INCIDENT_STATUS_COUNT] = {
    "new", "in-progress", "waiting-for-reporter", "resolved", "closed"};

static const char *const channel_names[INCIDENT_CHANNEL_COUNT] = {"mail", "phone", "web"};

const char *incident_type_name(enum incident_type t)
{
    return (unsigned)t < INCIDENT_TYPE_COUNT ? types[t].name : "?";
}

const char *incident_type_trigger(enum incident_type t)
{
    return (unsigned)t < INCIDENT_TYPE_COUNT ? types[t].trigger : "?";
}

int incident_type_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < INCIDENT_TYPE_COUNT; i++)
        if (strcasecmp(name, types[i].name) == 0 || strcasecmp(name, types[i].trigger) == 0)
            return i;
    return -1;
}

enum environment incident_type_environment(enum incident_type t)
{
    return (unsigned)t < INCIDENT_TYPE_COUNT ? types[t].env : ENV_TEST;
}

const char *incident_status_name(enum incident_status s)
{
    return (unsigned)s < INCIDENT_STATUS_COUNT ? status_names[s] : "?";
}

int incident_status_parse(const char *name)
{
    for (int i = 0; name && i < INCIDENT_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

const char *incident_channel_name(enum incident_channel c)
{
    return (unsigned)c < INCIDENT_CHANNEL_COUNT ? channel_names[c] : "?";
}

/* See incident.h for the rule and why it ignores case. */
int incident_trigger_match(str_t subject, str_t *rest)
{
    size_t i = 0;
    while (i < subject.len && (subject.ptr[i] == ' ' || subject.ptr[i] == '\t'))
        i++;
    str_t s = str_sub(subject, i, subject.len - i);
    for (int t = 0; t < INCIDENT_TYPE_COUNT; t++) {
        str_t trig = str_from_cstr(types[t].trigger);
        if (s.len < trig.len || !str_eq_nocase(str_sub(s, 0, trig.len), trig))
            continue;
        if (s.len > trig.len) {
            char next = s.ptr[trig.len];
            if (next != ' ' && next != '\t' && next != ':' && next != '-')
                continue;
        }
        if (rest) {
            size_t j = trig.len;
            while (j < s.len &&
                   (s.ptr[j] == ' ' || s.ptr[j] == '\t' || s.ptr[j] == ':' || s.ptr[j] == '-'))
                j++;
            *rest = str_trim(str_sub(s, j, s.len - j));
        }
        return t;
    }
    return -1;
}

bool incident_id_valid(str_t s)
{
    if (s.len != INCIDENT_ID_LEN || !str_has_prefix(s, STR(INCIDENT_ID_PREFIX)))
        return false;
    return str_is_digits(str_sub(s, 4, 4)) && s.ptr[8] == '-' && str_is_digits(str_sub(s, 9, 6));
}

bool incident_id_find(str_t s, char out[INCIDENT_ID_LEN + 1])
{
    for (size_t i = 0; i + INCIDENT_ID_LEN <= s.len; i++) {
        str_t cand = str_sub(s, i, INCIDENT_ID_LEN);
        if (incident_id_valid(cand) &&
            (i + INCIDENT_ID_LEN == s.len || !isdigit((unsigned char)s.ptr[i + INCIDENT_ID_LEN]))) {
            memcpy(out, cand.ptr, INCIDENT_ID_LEN);
            out[INCIDENT_ID_LEN] = '\0';
            return true;
        }
    }
    return false;
}
