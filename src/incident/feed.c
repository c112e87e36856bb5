/*
 * feed.c: the public faces of the operations log: an RSS 2.0 feed
 * (GET /driftsstatus.rss) and an HTML page (GET /driftsstatus). Both are
 * rendered from opslog_list_json(); every text is escaped, and characters
 * XML does not allow are dropped, so the output is always well-formed.
 * Dates in the feed are RFC 822 (with four-digit years, as RSS 2.0 asks);
 * each entry's guid is stable ("dupla-opslog-<id>"), and pubDate is its
 * last change, so readers show an updated entry again.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "incident/internal.h"

#define FEED_MAX_BYTES (4 * 1024 * 1024)

static const char *const kind_label_da[OPSLOG_KIND_COUNT] = {"Driftsforstyrrelse", "Servicevindue",
                                                             "Information"};
static const char *const status_label_da[OPSLOG_STATUS_COUNT] = {"Planlagt", "I gang", "Afsluttet",
                                                                 "Aflyst"};

/* Appends s escaped for XML/HTML text and attributes, clipped first. */
static void esc(buf_t *b, const char *s)
{
    char *clean = mail_text_clip(s, s ? strlen(s) : 0, FEED_MAX_BYTES);
    if (!clean)
        return;
    buf_append_html(b, str_from_cstr(clean));
    free(clean);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* "Tue, 03 Mar 2026 10:00:00 +0000" from ms. */
static void rfc822(int64_t ms, char *out, size_t cap)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0)
        rem += 86400000, days--;
    int y, m, d;
    clock_civil_from_days((int32_t)days, &y, &m, &d);
    int w = (int)(((days + 4) % 7 + 7) % 7);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[w], d, mon[m - 1], y,
             (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60));
}

static int64_t iso_ms(const char *iso)
{
    int64_t ms = 0;
    if (clock_parse_timestamp(str_from_cstr(iso), &ms, 0) != 0)
        return 0;
    return ms;
}

/* "2026-03-03 10:00 UTC" from an ISO timestamp. */
static void human_time(const char *iso, char *out, size_t cap)
{
    if (strlen(iso) >= 16)
        snprintf(out, cap, "%.10s %.5s UTC", iso, iso + 11);
    else
        snprintf(out, cap, "%s", iso);
}

static const char *kind_label(const char *kind)
{
    int k = opslog_kind_parse(kind);
    return k >= 0 ? kind_label_da[k] : kind;
}

static const char *status_label(const char *status)
{
    int s = opslog_status_parse(status);
    return s >= 0 ? status_label_da[s] : status;
}

/* The plain-text summary of one entry (period, status, updates). */
static void entry_summary(buf_t *b, const json_t *e)
{
    char from[40], to[40];
    human_time(jstr(e, "start"), from, sizeof from);
    const char *end = json_string_value(json_object_get(e, "end"));
    if (end)
        human_time(end, to, sizeof to);
    buf_printf(b, "%s. Status: %s. Fra %s%s%s.", kind_label(jstr(e, "kind")),
               status_label(jstr(e, "status")), from, end ? " til " : "", end ? to : "");
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(e, "updates"), i, u)
    {
        char at[40];
        human_time(jstr(u, "at"), at, sizeof at);
        buf_printf(b, "\n%s: %s", at, jstr(u, "text"));
    }
}

int opslog_render_rss(opslog_t *log, int64_t now_ms, buf_t *out, err_t *err)
{
    json_t *list;
    int rc = opslog_list_json(log, &list, err);
    if (rc)
        return rc;
    const char *base = log->inc->set.public_url;
    char date[64];
    rfc822(now_ms, date, sizeof date);
    buf_append_cstr(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n"
                         "<channel>\n<title>DUPLA driftsstatus</title>\n<link>");
    esc(out, base);
    buf_append_cstr(out, "/driftsstatus</link>\n<atom:link href=\"");
    esc(out, base);
    buf_printf(out,
               "/driftsstatus.rss\" rel=\"self\" type=\"application/rss+xml\"/>\n"
               "<description>Driftsforstyrrelser, servicevinduer og information om "
               "Dataudvekslingsplatformen (DUPLA)</description>\n"
               "<language>da</language>\n<lastBuildDate>%s</lastBuildDate>\n",
               date);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        long long id = (long long)json_integer_value(json_object_get(e, "id"));
        buf_append_cstr(out, "<item>\n<title>");
        buf_printf(out, "[%s] ", kind_label(jstr(e, "kind")));
        esc(out, jstr(e, "title"));
        buf_append_cstr(out, "</title>\n<link>");
        esc(out, base);
        buf_printf(out, "/driftsstatus#opslog-%lld</link>\n", id);
        buf_printf(out, "<guid isPermaLink=\"false\">dupla-opslog-%lld</guid>\n", id);
        rfc822(iso_ms(jstr(e, "updated_at")), date, sizeof date);
        buf_printf(out, "<pubDate>%s</pubDate>\n<category>%s</category>\n<description>", date,
                   jstr(e, "kind"));
        buf_t sum;
        buf_init(&sum, FEED_MAX_BYTES);
        entry_summary(&sum, e);
        esc(out, sum.data ? sum.data : "");
        buf_free(&sum);
        buf_append_cstr(out, "</description>\n</item>\n");
    }
    rc = buf_append_cstr(out, "</channel>\n</rss>\n");
    json_decref(list);
    if (rc)
        return err_internal(err, DUPLA_ELIMIT, "the feed is larger than its buffer");
    return 0;
}

int opslog_render_html(opslog_t *log, int64_t now_ms, buf_t *out, err_t *err)
{
    json_t *list;
    int rc = opslog_list_json(log, &list, err);
    if (rc)
        return rc;
    char date[40], iso[32];
    clock_format_s(now_ms, iso, sizeof iso);
    human_time(iso, date, sizeof date);
    int64_t retry = 0;
    bool window = opslog_service_window_now(log, now_ms, &retry);
    buf_append_cstr(out,
                    "<!DOCTYPE html>\n<html lang=\"da\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<title>DUPLA driftsstatus</title>\n"
                    "<link rel=\"alternate\" type=\"application/rss+xml\" "
                    "title=\"DUPLA driftsstatus\" href=\"/driftsstatus.rss\">\n"
                    "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;"
                    "padding:0 1em}article{border-top:1px solid #ccc;padding:.5em 0}"
                    ".kind{font-weight:bold}.now{background:#fee;padding:.5em}</style>\n"
                    "</head>\n<body>\n<h1>DUPLA driftsstatus</h1>\n");
    buf_printf(out, "<p>Opdateret %s. <a href=\"/driftsstatus.rss\">RSS</a></p>\n", date);
    if (window)
        buf_printf(out,
                   "<p class=\"now\">Servicevindue i gang: dataservices svarer 503 i endnu "
                   "%lld sekunder.</p>\n",
                   (long long)retry);
    if (json_array_size(list) == 0)
        buf_append_cstr(out, "<p>Ingen meddelelser.</p>\n");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        long long id = (long long)json_integer_value(json_object_get(e, "id"));
        char from[40], to[40];
        human_time(jstr(e, "start"), from, sizeof from);
        const char *end = json_string_value(json_object_get(e, "end"));
        buf_printf(out, "<article id=\"opslog-%lld\">\n<h2><span class=\"kind\">", id);
        esc(out, kind_label(jstr(e, "kind")));
        buf_append_cstr(out, ":</span> ");
        esc(out, jstr(e, "title"));
        buf_append_cstr(out, "</h2>\n<p>Status: ");
        esc(out, status_label(jstr(e, "status")));
        buf_printf(out, ". Fra %s", from);
        if (end) {
            human_time(end, to, sizeof to);
            buf_printf(out, " til %s", to);
        }
        buf_append_cstr(out, ".</p>\n");
        json_t *ups = json_object_get(e, "updates");
        if (json_array_size(ups)) {
            buf_append_cstr(out, "<ul>\n");
            size_t j;
            json_t *u;
            json_array_foreach(ups, j, u)
            {
                char at[40];
                human_time(jstr(u, "at"), at, sizeof at);
                buf_printf(out, "<li><time>%s</time>: ", at);
                esc(out, jstr(u, "text"));
                buf_append_cstr(out, "</li>\n");
            }
            buf_append_cstr(out, "</ul>\n");
        }
        buf_append_cstr(out, "</article>\n");
    }
    rc = buf_append_cstr(out, "</body>\n</html>\n");
    json_decref(list);
    if (rc)
        return err_internal(err, DUPLA_ELIMIT, "the page is larger than its buffer");
    return 0;
}
