/* Unit tests: sd_notify for `dupla serve` (cli/serve_notify.h): a unix
 * datagram socket standing in for systemd's receives READY=1 and the
 * other states; the watchdog interval is half of $WATCHDOG_USEC, and only
 * for the process $WATCHDOG_PID names. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/serve_notify.h"

static int sock = -1;
static char sock_path[108];

/* Binds a datagram socket where $NOTIFY_SOCKET points. */
static void listen_notify(void)
{
    snprintf(sock_path, sizeof sock_path, "/tmp/dupla-notify-%d.sock", (int)getpid());
    unlink(sock_path);
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_neq(sock, -1);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    cr_assert_eq(bind(sock, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setenv("NOTIFY_SOCKET", sock_path, 1);
}

static void teardown(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    if (sock >= 0)
        close(sock);
    sock = -1;
    if (sock_path[0])
        unlink(sock_path);
}

/* The next datagram, as a string. */
static void receive(char *buf, size_t cap)
{
    ssize_t n = recv(sock, buf, cap - 1, 0);
    cr_assert_gt(n, 0, "nothing arrived on the notify socket");
    buf[n] = '\0';
}

TestSuite(serve_notify, .fini = teardown);

Test(serve_notify, ready_reaches_the_socket)
{
    listen_notify();
    cr_assert_eq(serve_notify("READY=1"), 1);
    char buf[256];
    receive(buf, sizeof buf);
    cr_assert_str_eq(buf, "READY=1");
}

Test(serve_notify, every_state_in_order_and_the_socket_stays_set)
{
    listen_notify();
    const char *states[] = {"READY=1", "RELOADING=1", "READY=1", "WATCHDOG=1", "STOPPING=1"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        cr_assert_eq(serve_notify(states[i]), 1);
    cr_assert_str_eq(getenv("NOTIFY_SOCKET"), sock_path);
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        char buf[256];
        receive(buf, sizeof buf);
        cr_assert_str_eq(buf, states[i]);
    }
}

Test(serve_notify, nothing_to_tell_outside_systemd)
{
    unsetenv("NOTIFY_SOCKET");
    cr_assert_eq(serve_notify("READY=1"), 0);
}

Test(serve_notify, a_socket_nobody_listens_on_is_an_error_not_a_crash)
{
    setenv("NOTIFY_SOCKET", "/tmp/dupla-notify-nobody-here.sock", 1);
    unlink("/tmp/dupla-notify-nobody-here.sock");
    cr_assert_lt(serve_notify("READY=1"), 0);
}

Test(serve_notify, watchdog_interval_is_half_of_watchdog_usec)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    cr_assert_eq(serve_watchdog_interval_ms(), 15000);
    unsetenv("WATCHDOG_PID"); /* no pid: meant for whoever reads it */
    cr_assert_eq(serve_watchdog_interval_ms(), 15000);
}

Test(serve_notify, no_watchdog_when_not_asked_or_asked_of_another_process)
{
    unsetenv("WATCHDOG_USEC");
    cr_assert_eq(serve_watchdog_interval_ms(), 0);
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    cr_assert_eq(serve_watchdog_interval_ms(), 0);
}
