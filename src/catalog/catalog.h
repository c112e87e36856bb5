/*
 * catalog.h: the service catalogue, the one description of every data service.
 *
 * A service is described by one JSON file in the catalogue folder (catalog/
 * at the top of the source tree; the "catalog" section of the configuration
 * points elsewhere). The file gives the service's path (ASCII) and its Danish
 * spelling (an alias), titles and descriptions in Danish and English, the
 * subject key (CPR, CVR or SE), the period key (an income year, or a
 * settlement period with a start and an end date), the query parameters and
 * every field with its type and descriptions. The format is described in
 * catalog/README.md.
 *
 * The catalogue is loaded and checked once at start-up (catalog_load_dir);
 * after that it is read-only and may be shared by every thread. Everything
 * that touches data goes through it: the query engine (parameters, fields,
 * authorisation), ingest (validating deliveries), the store (field order of
 * the stored encoding), the OpenAPI document, the catalogue pages and the
 * synthetic data generator.
 *
 * Amounts are integer øre (1/100 DKK): exact, no floating point anywhere, and
 * one unit for every service whether its source counts whole kroner (income
 * lines, VAT boxes) or øre (tax withheld, residual tax). Rates are percents
 * with at most two decimals, held as integer hundredths (37.25 % is 3725).
 */
#ifndef DUPLA_CATALOG_CATALOG_H
#define DUPLA_CATALOG_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "core/str.h"

/* Limits on what a catalogue may hold. */
#define CATALOG_MAX_SERVICES   64
#define CATALOG_MAX_FIELDS     128 /* per service */
#define CATALOG_MAX_PARAMS     32  /* per service */
#define CATALOG_MAX_SUBJECTS   3   /* subject kinds of one service (cpr, cvr, se) */
#define CATALOG_MAX_CODES      512 /* allowed values of one code field */
#define CATALOG_MAX_FILE       (1024 * 1024)
#define CATALOG_NAME_MAX       64   /* bytes of a path, alias, field or parameter name */
#define CATALOG_TEXT_MAX       2000 /* bytes of a title or description */
#define CATALOG_CODE_MAX       32   /* bytes of one code value */
#define CATALOG_TEXT_FIELD_MAX 1000 /* bytes of a text field's value in a record */
#define CATALOG_RATE_SCALE     100  /* rates are held in hundredths of a percent */
/* The configuration section and its key. */
#define CATALOG_CONFIG_SECTION "catalog"

enum catalog_type {
    CATALOG_AMOUNT = 0, /* integer øre */
    CATALOG_RATE,       /* percent with at most 2 decimals; held as hundredths */
    CATALOG_DATE,       /* yyyy-mm-dd; held as days since 1970-01-01 */
    CATALOG_TIMESTAMP,  /* yyyy-mm-ddTHH:MM:SS[.fff]Z; held as ms since the epoch */
    CATALOG_CODE,       /* one of the field's allowed values (a string) */
    CATALOG_BOOLEAN,    /* true / false */
    CATALOG_IDENTIFIER, /* CPR, CVR or SE number (a string of digits) */
    CATALOG_INTEGER,    /* a plain integer (counts, years, numbers) */
    CATALOG_TEXT,       /* free text, at most CATALOG_TEXT_FIELD_MAX bytes */
};
#define CATALOG_N_TYPES 9

/* The kinds of identifier a subject key or an identifier field holds. */
enum catalog_ident {
    CATALOG_IDENT_NONE = 0,
    CATALOG_IDENT_CPR,
    CATALOG_IDENT_CVR,
    CATALOG_IDENT_SE
};

/* What a period key is: an income year, or a settlement period. */
enum catalog_period_kind {
    CATALOG_PERIOD_YEAR = 0,  /* an income year (stored as 1 January - 31 December) */
    CATALOG_PERIOD_RANGE = 1, /* a settlement period from a first to a last day */
    CATALOG_PERIOD_NUMBER = 2 /* no period: a number the source gives each record of a
                                 subject (a registration, a case), stored as the period */
};

/* Where a field's value comes from. Key fields and platform fields live in
 * the store's own columns; business fields in its encoded field list. */
enum catalog_role {
    CATALOG_ROLE_BUSINESS = 0, /* delivered by the source system */
    CATALOG_ROLE_SUBJECT,      /* the subject key (delivered) */
    CATALOG_ROLE_YEAR,         /* the income year (delivered) */
    CATALOG_ROLE_PERIOD_START, /* the settlement period's first day (delivered) */
    CATALOG_ROLE_PERIOD_END,   /* its last day (delivered) */
    CATALOG_ROLE_VERSION,      /* version number 1, 2, ... (set by the platform) */
    CATALOG_ROLE_REGISTERED,   /* registration time (set by the platform) */
    CATALOG_ROLE_NUMBER,       /* the record's number (period kind "number"; delivered) */
};

/* What a query parameter does in a read. */
enum catalog_param_role {
    CATALOG_PARAM_SUBJECT = 0,     /* the subjects (identifiers of the subject kind) */
    CATALOG_PARAM_YEAR,            /* income years (period kind "year") */
    CATALOG_PARAM_PERIOD_FROM,     /* periods that end on or after this date */
    CATALOG_PARAM_PERIOD_TO,       /* periods that start on or before this date */
    CATALOG_PARAM_REGISTERED_FROM, /* versions registered at or after (timestamp or date) */
    CATALOG_PARAM_REGISTERED_TO,   /* versions registered before (timestamp), or on or
                                      before (date: the whole day is included) */
    CATALOG_PARAM_FIELDS,          /* names of fields to return (narrows the answer) */
    CATALOG_PARAM_CODE,            /* records whose code field (param->field) is one of these */
    CATALOG_PARAM_VALID_FROM,      /* records valid on or after this day (service->valid_*) */
    CATALOG_PARAM_VALID_TO,        /* records valid on or before this day */
};
#define CATALOG_N_PARAM_ROLES 10

/* The value types of query parameters. */
enum catalog_param_type {
    CATALOG_PARAM_CPR = 0,     /* 10 digits, checked as a CPR number */
    CATALOG_PARAM_CVR,         /* 8 digits, modulus 11 */
    CATALOG_PARAM_SE,          /* 8 digits */
    CATALOG_PARAM_T_YEAR,      /* yyyy */
    CATALOG_PARAM_T_DATE,      /* yyyy-mm-dd */
    CATALOG_PARAM_T_TIMESTAMP, /* yyyy-mm-ddTHH:MM:SSZ */
    CATALOG_PARAM_T_TEXT,      /* a string (e.g. a field name) */
    CATALOG_PARAM_T_CODE,      /* one of the values of param->field's code table */
};
#define CATALOG_N_PARAM_TYPES 8

/* Danish and English text. Both are required in every file. */
struct catalog_text {
    const char *da;
    const char *en;
};

struct catalog_code {
    const char *value;
    struct catalog_text meaning;
};

struct catalog_field {
    const char *name; /* Danish CamelCase, unique within the service */
    size_t name_len;  /* strlen(name) */
    size_t index;     /* position in service->fields */
    enum catalog_type type;
    enum catalog_role role;
    enum catalog_ident ident; /* for CATALOG_IDENTIFIER fields */
    bool required;            /* must be present in every delivered record */
    struct catalog_text description;
    size_t n_codes; /* for CATALOG_CODE */
    const struct catalog_code *codes;
    /* Position among the business fields (the order of the stored encoding),
     * or SIZE_MAX for key and platform fields. */
    size_t business_index;
    /* A subject identifier of a service with several subject kinds: a
     * business field (stored in the record), always sent like a key. */
    bool subject_key;
};

struct catalog_param {
    const char *name;
    enum catalog_param_type type;
    enum catalog_param_role role;
    bool list; /* may repeat (?X=1&X=2) */
    bool required;
    struct catalog_text description;
    /* The field a filter reads: the code field of a "code" parameter, the
     * integer field of a "year" parameter of a service whose period is not
     * a year; NULL otherwise. */
    const struct catalog_field *field;
    size_t subject_index; /* subject parameters: which of service->subjects */
};

/* One kind of subject a service is asked by. */
struct catalog_subject {
    enum catalog_ident kind;
    const struct catalog_field *field;
    const struct catalog_param *param;
};

struct catalog_service {
    const char *path;  /* ASCII, e.g. "Aarsopgoerelse" */
    const char *alias; /* Danish spelling, UTF-8, e.g. "Årsopgørelse" */
    const char *file;  /* the file it was loaded from */
    struct catalog_text title;
    struct catalog_text description;
    enum catalog_ident subject_kind; /* subjects[0]'s */
    enum catalog_period_kind period_kind;
    /* The key and platform fields (pointers into fields). period_start and
     * period_end are set for range services only, year for year services,
     * number for number services. subject is subjects[0]'s field. */
    const struct catalog_field *subject;
    const struct catalog_field *year;
    const struct catalog_field *period_start;
    const struct catalog_field *period_end;
    const struct catalog_field *number;
    /* The kinds of subject a call may name (exactly one per call). With
     * "subject" one kind, whose field is the record's key (role subject);
     * with "subjects" several, whose fields are identifier fields stored
     * in the record (subject_key), the record stored once under each
     * subject it names (subjects_in_record). */
    size_t n_subjects;
    struct catalog_subject subjects[CATALOG_MAX_SUBJECTS];
    bool subjects_in_record;
    /* Valid time (NULL: none): the dates a record is in force, separate
     * from its period and from when it was registered; valid_to may be
     * absent in a record (still in force). */
    const struct catalog_field *valid_from;
    const struct catalog_field *valid_to;
    const struct catalog_field *version;
    const struct catalog_field *registered;
    size_t n_fields; /* every field, in catalogue order (the order of answers) */
    const struct catalog_field *fields;
    size_t n_business; /* the business fields, in catalogue order */
    const struct catalog_field *const *business;
    size_t n_params;
    const struct catalog_param *params;
};

typedef struct catalog catalog_t;

/* Loads every *.json file in dir (in name order) into a new catalogue and
 * checks it whole: syntax (errors name file:line:column), then meaning
 * (errors name the file and the JSON path, e.g. "fields[3].type"), then
 * across files (paths and aliases unique). On success the caller owns
 * *out and frees it with catalog_free(); on error *out is NULL. */
int catalog_load_dir(const char *dir, catalog_t **out, err_t *err);
/* The same for one file's text (tests); name stands for the file name. */
int catalog_load_string(const char *name, const char *text, catalog_t **out, err_t *err);
void catalog_free(catalog_t *cat);

/* The folder to load: "catalog.dir" of the configuration (relative to the
 * configuration file), or DUPLA_CATALOG_DEFAULT_DIR (the source tree's
 * catalog/ folder) when absent. 0, or an error naming "catalog.dir". */
int catalog_config_dir(const struct dupla_config *cfg, char *out, size_t cap, err_t *err);

size_t catalog_count(const catalog_t *cat);
/* The i-th service, in path order; NULL past the end. Borrowed. */
const struct catalog_service *catalog_service_at(const catalog_t *cat, size_t i);
/* The service whose path or alias equals name exactly (bytes, UTF-8 already
 * percent-decoded by the caller), or NULL. Borrowed. */
const struct catalog_service *catalog_find(const catalog_t *cat, str_t name);

/* The field named name, or NULL. */
const struct catalog_field *catalog_field_find(const struct catalog_service *svc, str_t name);
/* Its index in svc->fields, or -1. */
long catalog_field_index(const struct catalog_service *svc, str_t name);
/* The parameter named name, or NULL. */
const struct catalog_param *catalog_param_find(const struct catalog_service *svc, str_t name);
/* The first parameter with this role, or NULL. */
const struct catalog_param *catalog_param_by_role(const struct catalog_service *svc,
                                                  enum catalog_param_role role);
/* true if value is one of a code field's allowed values. */
bool catalog_code_allowed(const struct catalog_field *f, str_t value);
/* The index of value in a code field's table, or -1. */
long catalog_code_index(const struct catalog_field *f, str_t value);
/* The index in svc->subjects of the kind k, or -1. */
long catalog_subject_index(const struct catalog_service *svc, enum catalog_ident k);
/* true if the field is a key (subject, year, period start/end, number, or a
 * subject identifier of a service with several): always sent with a
 * record, whatever fields were granted. */
bool catalog_field_is_key(const struct catalog_field *f);

/* Names used in files, documents and messages ("amount", "cpr", "year"...). */
const char *catalog_type_name(enum catalog_type t);
const char *catalog_ident_name(enum catalog_ident k);
const char *catalog_param_type_name(enum catalog_param_type t);
const char *catalog_param_role_name(enum catalog_param_role r);
const char *catalog_role_name(enum catalog_role r);

/* ---- values ---- */

/* One field's value in memory. Integers cover amount (øre), rate
 * (hundredths), date (days), timestamp (ms), boolean (0/1) and integer; text
 * covers code, identifier and text (the bytes are borrowed from whoever
 * produced the value). */
struct catalog_value {
    bool present;
    int64_t i;
    str_t s;
};

/* One member's value of a delivered record, as catalog_value_from_scalar
 * reads it: from jansson (catalog_json_of) or from ingest's own reader of
 * flat lines. */
enum catalog_json_kind {
    CATALOG_JSON_ABSENT, /* no such member */
    CATALOG_JSON_NULL,
    CATALOG_JSON_BOOLEAN, /* i: 0 or 1 */
    CATALOG_JSON_INTEGER, /* i */
    CATALOG_JSON_REAL,    /* d */
    CATALOG_JSON_STRING,  /* s: valid UTF-8, no NUL */
    CATALOG_JSON_OTHER,   /* an array or an object */
};
struct catalog_json {
    enum catalog_json_kind kind;
    int64_t i;
    double d;
    str_t s;
};
/* j (NULL: absent) as a catalog_json; s borrows j's text. */
void catalog_json_of(const json_t *j, struct catalog_json *out);
/* Reads a field's value from a delivered record's member. Absent or JSON
 * null is "absent". On error fills err with err_param(field name) and a
 * reason that says what was expected; the text of s is j's (borrowed). */
int catalog_value_from_scalar(const struct catalog_field *f, const struct catalog_json *j,
                              struct catalog_value *out, err_t *err);
/* Appends the value as JSON (null when absent): amounts and integers as
 * integers, rates as decimal numbers (37.25), dates and timestamps as
 * strings (timestamps "yyyy-mm-ddTHH:MM:SS.fffZ"), the rest as strings. */
int catalog_value_to_json(const struct catalog_field *f, const struct catalog_value *v, buf_t *out);
/* The catalogue as one JSON document (services, parameters, fields, codes,
 * both languages), for GET /servicekatalog.json and the pages. New
 * reference owned by the caller. */
json_t *catalog_to_json(const catalog_t *cat);

/* ---- documents (openapi.c, pages.c) ---- */

/* What the OpenAPI document says about where the platform is. */
struct catalog_openapi_options {
    const char *server_url;  /* "servers"[0].url, e.g. "https://api.example" or "/" */
    const char *token_url;   /* the token endpoint (mTLS), e.g. "/token" */
    const char *environment; /* "test" or "production", in info.description */
    const char *fields_note; /* extra text on field narrowing, or NULL */
};

/* The OpenAPI 3.1 document of every service: paths (the ASCII path and the
 * Danish alias), every parameter and field with both descriptions, the
 * protocol headers, the problem+json error bodies and the security schemes
 * (the mutual-TLS OAuth 2 token endpoint, and bearer tokens). New reference
 * owned by the caller; NULL on out of memory. */
json_t *catalog_openapi(const catalog_t *cat, const struct catalog_openapi_options *opt);

/* The catalogue as open data, DCAT-AP-DK (dcat.c): a dcat:Catalog with
 * each service as a dcat:DataService, in JSON-LD or Turtle. */
#define CATALOG_DCAT_BASE_MAX 512 /* bytes of the base URL */
enum catalog_dcat_format { CATALOG_DCAT_JSONLD = 0, CATALOG_DCAT_TURTLE };
struct catalog_dcat_options {
    const char *base_url; /* where the platform answers, "https://host[:port]", no '/' at the end */
    const char *publisher; /* the data owner's name (the catalogue's dct:publisher) */
};
/* Is base usable as base_url (http(s), no character an IRI may not hold)? */
bool catalog_dcat_base_ok(const char *base);
/* Appends the document to out. 0, DUPLA_EINVAL for a bad base_url,
 * DUPLA_ENOMEM, or out's error when it is past its maximum. */
int catalog_dcat(const catalog_t *cat, const struct catalog_dcat_options *opt,
                 enum catalog_dcat_format format, buf_t *out);

/* The catalogue as one HTML page (Danish, with English alongside; every
 * value escaped) appended to out. */
int catalog_pages_html(const catalog_t *cat, buf_t *out);

#endif
