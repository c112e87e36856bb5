/*
 * smtp.c: one SMTP transaction with libcurl (smtp:// with optional
 * STARTTLS, or smtps://) to the configured relay. No authentication: the
 * relay is the data owner's own, reached over its network.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "mail/internal.h"

#define SMTP_CONNECT_TIMEOUT_SECONDS 10
#define SMTP_RCPTS_MAX               8

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_fn(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct reader {
    str_t data;
    size_t off;
};

static size_t read_cb(char *out, size_t size, size_t nmemb, void *user)
{
    struct reader *r = user;
    size_t want = size * nmemb, left = r->data.len - r->off;
    if (want > left)
        want = left;
    memcpy(out, r->data.ptr + r->off, want);
    r->off += want;
    return want;
}

int mail_smtp_send(const struct mail_settings *set, const char *rcpts[], size_t n, str_t message,
                   struct mail_smtp_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0 || n > SMTP_RCPTS_MAX) {
        out->permanent = true;
        snprintf(out->error, sizeof out->error, "no recipient");
        return DUPLA_EINVAL;
    }
    pthread_once(&curl_once, curl_init_fn);
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(out->error, sizeof out->error, "curl_easy_init failed");
        return DUPLA_ENOMEM;
    }
    char errbuf[CURL_ERROR_SIZE] = "", from[MAIL_ADDRESS_MAX + 3];
    snprintf(from, sizeof from, "<%s>", set->from);
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < n; i++) {
        char r[MAIL_ADDRESS_MAX + 3];
        snprintf(r, sizeof r, "<%s>", rcpts[i]);
        list = curl_slist_append(list, r);
    }
    struct reader rd = {message, 0};
    curl_easy_setopt(h, CURLOPT_URL, set->smtp_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, list);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &rd);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)message.len);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)SMTP_CONNECT_TIMEOUT_SECONDS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)set->smtp_timeout_seconds);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (set->smtp_starttls)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (set->smtp_ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, set->smtp_ca_file);
    CURLcode res = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    out->response = code;
    if (res == CURLE_OK)
        return 0;
    out->permanent = code >= 500 && code < 600;
    snprintf(out->error, sizeof out->error, "%s%s%s (SMTP %ld)", curl_easy_strerror(res),
             errbuf[0] ? ": " : "", errbuf, code);
    return DUPLA_EIO;
}
