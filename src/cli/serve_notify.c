/*
 * serve_notify.c: sd_notify(3) for `dupla serve` (see serve_notify.h).
 * libsystemd speaks the protocol ($NOTIFY_SOCKET, a unix datagram socket,
 * abstract when it starts with '@'); this file only decides what is said.
 */
#include "cli/serve_notify.h"

#include <systemd/sd-daemon.h>

int serve_notify(const char *state)
{
    /* 0: keep $NOTIFY_SOCKET, so that every later state reaches it too. */
    int rc = sd_notify(0, state);
    return rc > 0 ? 1 : rc;
}

int64_t serve_watchdog_interval_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    int64_t ms = (int64_t)(usec / 2000);
    return ms > 0 ? ms : 1;
}
