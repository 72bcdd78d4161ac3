/* SPDX-License-Identifier: ISC */
/*
 * listener.h: the SMTP listeners on the libuv loop (issue 4).  One set
 * of TCP listeners per config: smtpd_submission_listen (STARTTLS, AUTH
 * required), smtpd_submissions_listen (implicit TLS, AUTH required) and
 * smtpd_relay_listen (no AUTH; only clients in smtpd_relay_networks).
 * Each accepted connection gets an SMTP session (smtp/) whose decisions
 * go to a relay_session (src/relay.c); this module does the bytes:
 * TLS through src/tls.c, connection limits, timeouts, flow control.
 */
#ifndef POSTERN_LISTENER_H
#define POSTERN_LISTENER_H

#include <stddef.h>
#include <uv.h>

#include "config.h"

struct listener;
struct relay;
struct smtp_params;

/* The SMTP session settings of CFG (strings point into CFG). */
void listener_smtp_params(struct smtp_params *p, const struct config *cfg);

/*
 * Bind every configured listener and start accepting.  The listener
 * takes a reference to CFG (and each session one to the config it
 * started with); RELAY is borrowed.  NULL with ERR when an address
 * cannot be bound or the TLS certificate/key cannot be loaded while a
 * TLS listener is configured.
 */
struct listener *listener_start(uv_loop_t *loop, const struct config *cfg,
    struct relay *relay, char *err, size_t errlen);
/*
 * The same for loop INDEX of NLOOPS (smtpd_loops; call on the thread
 * that will run LOOP, or before it runs): with NLOOPS > 1 every socket
 * is bound with SO_REUSEPORT, session ids stay unique across loops, and
 * FIRST (loop 0's listener, NULL for loop 0 itself) shares its
 * connection counts, so the limits count every loop's connections.
 * FIRST must be freed last.
 */
struct listener *listener_start_loop(uv_loop_t *loop, const struct config *cfg,
    struct relay *relay, struct listener *first, unsigned index, unsigned nloops,
    char *err, size_t errlen);
/*
 * SIGHUP: re-read the TLS certificate and key (from CFG's paths) for new
 * connections, and use CFG's limits and timeouts for new sessions.
 * Existing connections keep their TLS context and their own reference
 * to their old config.  Listen addresses are not rebound (those keys
 * need a restart).  On error the old settings stay: -1 + ERR.
 */
int listener_reload(struct listener *l, const struct config *cfg, char *err, size_t errlen);
/* smtpd_loops: loop 0's listener's TLS context with one more reference
 * (NULL without a certificate), and another loop's reload with it (TLS,
 * whose reference it takes over) and CFG: every loop serves the same
 * context, so TLS sessions resume on any loop. */
struct tls_ctx *listener_tls_ref(struct listener *l);
void listener_reload_shared(struct listener *l, const struct config *cfg, struct tls_ctx *tls);

/* Stop accepting, end every session with 421 4.3.2, close everything;
 * CB runs once the last handle is closed.  Then listener_free().  A
 * second call while stopping only replaces CB and ARG. */
typedef void (*listener_stopped_cb)(void *arg);
void listener_stop(struct listener *l, listener_stopped_cb cb, void *arg);
void listener_free(struct listener *l);

struct listener_stats {
	unsigned long accepted;		/* connections accepted */
	unsigned long refused;		/* refused: limits or networks */
	unsigned long timeouts;
	unsigned long tls_failed;
	size_t active;
};
void listener_get_stats(const struct listener *l, struct listener_stats *out);

/* The daemon module "smtpd" (relay + listeners) is src/daemon/smtpd_module.c. */

/* CIDR match, exposed for tests: is the textual address ADDR inside
 * "a.b.c.d/n" or "x::/n" CIDR?  1 yes, 0 no, -1 malformed CIDR. */
int listener_cidr_match(const char *cidr, const char *addr);

#endif
