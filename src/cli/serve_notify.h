/*
 * serve_notify.h: telling the service manager how `dupla serve` is doing,
 * through sd_notify(3) (libsystemd), for a Type=notify unit with
 * WatchdogSec= (contrib/systemd/dupla.service):
 *   READY=1      once every listener listens (and again after a reload)
 *   RELOADING=1  when a SIGHUP reload begins
 *   STOPPING=1   when SIGTERM or SIGINT begins the drain
 *   WATCHDOG=1   keepalives from the signal loop at half of WatchdogSec=
 * Outside systemd ($NOTIFY_SOCKET unset) every call does nothing.
 */
#ifndef DUPLA_CLI_SERVE_NOTIFY_H
#define DUPLA_CLI_SERVE_NOTIFY_H

#include <stdint.h>

/* Sends state ("READY=1", several lines allowed) to $NOTIFY_SOCKET.
 * Returns 1 when sent, 0 when there is no service manager to tell, or a
 * negative errno when sending failed (the caller logs; serving goes on). */
int serve_notify(const char *state);

/* How often to send WATCHDOG=1, in milliseconds: half of $WATCHDOG_USEC
 * when the service manager asked this process for keepalives
 * ($WATCHDOG_PID is ours or unset), else 0. */
int64_t serve_watchdog_interval_ms(void);

#endif
