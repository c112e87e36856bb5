/*
 * text.c: the text helpers of mail (mail.h): addresses, untrusted text
 * cleaned into valid UTF-8 within a byte limit, and GMime's set-up.
 */
#include <ctype.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mail/internal.h"

static pthread_once_t gmime_init_once = PTHREAD_ONCE_INIT;

static void gmime_init_fn(void)
{
    g_mime_init();
}

void mail_gmime_once(void)
{
    pthread_once(&gmime_init_once, gmime_init_fn);
}

/* See mail.h. Also drops NUL and the C0 controls other than tab, LF and
 * CR, so that the text is valid in XML and JSON alike. */
char *mail_text_clip(const char *s, size_t len, size_t max)
{
    char *out = malloc(max + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    if (!s)
        len = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0) { /* invalid: U+FFFD */
            if (o + 3 > max)
                break;
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        if (n == 1 && p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
            i++;
            continue;
        }
        if (o + n > max)
            break;
        memcpy(out + o, p + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

void mail_address_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

bool mail_address_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n < 3 || n > MAIL_ADDRESS_MAX)
        return false;
    const char *at = strrchr(s, '@');
    if (!at || at == s || !at[1])
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '<' || c == '>' || c == ',' || c == '"' || c == '\\' || c == 0x7f)
            return false;
    }
    return true;
}
