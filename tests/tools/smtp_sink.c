/*
 * smtp_sink.c: see smtp_sink.h. One thread accepts connections and serves
 * them one at a time; good enough for a test's sender, which sends in turn.
 */
#include "smtp_sink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define SINK_LINE_MAX (64 * 1024)
#define SINK_DATA_MAX (64 * 1024 * 1024)

struct smtp_sink {
    int fd;
    unsigned port;
    pthread_t thread;
    pthread_mutex_t lock;
    volatile int stop;
    volatile enum smtp_sink_mode mode;
    struct smtp_sink_message msgs[SMTP_SINK_MAX_MESSAGES];
    size_t n;
};

struct conn {
    int fd;
    char buf[8192];
    size_t len, off;
};

/* Reads one line (without CRLF) into out; -1 on EOF or error. */
static int read_line(struct conn *c, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (c->off == c->len) {
            ssize_t r = read(c->fd, c->buf, sizeof c->buf);
            if (r <= 0)
                return -1;
            c->len = (size_t)r;
            c->off = 0;
        }
        char ch = c->buf[c->off++];
        if (ch == '\n') {
            if (n && out[n - 1] == '\r')
                n--;
            out[n] = '\0';
            return (int)n;
        }
        if (n + 1 < cap)
            out[n++] = ch;
    }
}

static void say(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = write(fd, s + off, n - off);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

static char *path_of(const char *arg)
{
    const char *lt = strchr(arg, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (!lt || !gt)
        return strdup(arg);
    return strndup(lt + 1, (size_t)(gt - lt - 1));
}

static void serve(struct smtp_sink *s, int fd)
{
    struct conn c = {.fd = fd};
    char *line = malloc(SINK_LINE_MAX);
    char *from = NULL, *rcpts = NULL;
    say(fd, "220 sink ESMTP\r\n");
    while (line && read_line(&c, line, SINK_LINE_MAX) >= 0) {
        if (strncasecmp(line, "EHLO", 4) == 0) {
            say(fd, "250-sink\r\n250 8BITMIME\r\n");
        } else if (strncasecmp(line, "HELO", 4) == 0) {
            say(fd, "250 sink\r\n");
        } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            free(from);
            free(rcpts);
            from = path_of(line + 10);
            rcpts = NULL;
            say(fd, "250 ok\r\n");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
            if (s->mode == SMTP_SINK_REJECT_RCPT) {
                say(fd, "550 no such user\r\n");
                continue;
            }
            char *p = path_of(line + 8);
            size_t old = rcpts ? strlen(rcpts) : 0;
            char *nr = realloc(rcpts, old + strlen(p) + 2);
            if (nr) {
                if (old)
                    nr[old++] = ',';
                strcpy(nr + old, p);
                rcpts = nr;
            }
            free(p);
            say(fd, "250 ok\r\n");
        } else if (strncasecmp(line, "DATA", 4) == 0) {
            say(fd, "354 go ahead\r\n");
            size_t cap = 4096, len = 0;
            char *data = malloc(cap);
            int n;
            while (data && (n = read_line(&c, line, SINK_LINE_MAX)) >= 0) {
                if (strcmp(line, ".") == 0)
                    break;
                const char *l = line[0] == '.' ? line + 1 : line; /* dot-unstuffing */
                size_t ll = strlen(l);
                if (len + ll + 3 > cap && len + ll + 3 < SINK_DATA_MAX) {
                    while (len + ll + 3 > cap)
                        cap *= 2;
                    char *nd = realloc(data, cap);
                    if (!nd)
                        break;
                    data = nd;
                }
                memcpy(data + len, l, ll);
                len += ll;
                memcpy(data + len, "\r\n", 2);
                len += 2;
                data[len] = '\0';
            }
            if (data)
                data[len] = '\0';
            if (s->mode == SMTP_SINK_TEMPFAIL) {
                say(fd, "451 try again later\r\n");
                free(data);
                continue;
            }
            pthread_mutex_lock(&s->lock);
            if (s->n < SMTP_SINK_MAX_MESSAGES && data) {
                s->msgs[s->n].from = from ? from : strdup("");
                s->msgs[s->n].rcpts = rcpts ? rcpts : strdup("");
                s->msgs[s->n].data = data;
                s->n++;
                from = rcpts = NULL;
                data = NULL;
            }
            pthread_mutex_unlock(&s->lock);
            free(data);
            say(fd, "250 queued\r\n");
        } else if (strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0) {
            say(fd, "250 ok\r\n");
        } else if (strncasecmp(line, "QUIT", 4) == 0) {
            say(fd, "221 bye\r\n");
            break;
        } else {
            say(fd, "502 not implemented\r\n");
        }
    }
    free(from);
    free(rcpts);
    free(line);
    close(fd);
}

static void *run(void *arg)
{
    struct smtp_sink *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        serve(s, fd);
    }
    return NULL;
}

smtp_sink_t *smtp_sink_start(unsigned port)
{
    struct smtp_sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &al) != 0) {
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        close(s->fd);
        free(s);
        return NULL;
    }
    return s;
}

unsigned smtp_sink_port(const smtp_sink_t *s)
{
    return s->port;
}

void smtp_sink_set_mode(smtp_sink_t *s, enum smtp_sink_mode mode)
{
    s->mode = mode;
}

size_t smtp_sink_count(smtp_sink_t *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int smtp_sink_get(smtp_sink_t *s, size_t i, struct smtp_sink_message *out)
{
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    if (i < s->n) {
        out->from = strdup(s->msgs[i].from);
        out->rcpts = strdup(s->msgs[i].rcpts);
        out->data = strdup(s->msgs[i].data);
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

size_t smtp_sink_count_containing(smtp_sink_t *s, const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n; i++)
        if (strstr(s->msgs[i].data, needle))
            n++;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void smtp_sink_stop(smtp_sink_t *s)
{
    if (!s)
        return;
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (size_t i = 0; i < s->n; i++) {
        free(s->msgs[i].from);
        free(s->msgs[i].rcpts);
        free(s->msgs[i].data);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}
