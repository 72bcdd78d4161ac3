# SPDX-License-Identifier: ISC
"""harness: the shared integration-test harness for postern (a package).

Every tests/integration/test_*.py imports this package (it sits next to
them, so a plain `from harness import *` works when the script is run
as `/usr/bin/python3 path/to/test_x.py`).  It provides:

  TAP        plan(), ok(), is_(), isnt(), like(), diag(), skip(),
             skip_all(), bail_out(), done(); an uncaught exception is
             reported as a failing test with its traceback as comments.
  helpers    free_port(host), tmpdir(), make_cert(dir, cn), wait_for(),
             eventually() (wait_for() as a check).
  Postern    the real posternd in a temp dir on free 127.0.0.1 ports,
             ready when its log says `event=ready`; stop(), kill9(),
             restart(), reload(), log(), wait_log(), posternctl(),
             queue_show(), queue_body(), dkim_records(), smtp()/smtp_ssl()
             clients.  Its log is dumped as TAP
             comments when a test fails.
  Dns        dnsmasq (Debian) on a free loopback port serving per-test
             MX, A, AAAA, TXT (multi-string), CNAME, null MX, NXDOMAIN;
             txt_records(), reset(); lookup_txt() is a dnsfunc for dkimpy
             that asks it.
  zone_records(text)  the (name, value) TXT records `posternctl dkim
             dns` prints, to serve with Dns.txt().
  Sink       a real SMTP server (aiosmtpd, as a subprocess of this same
             file) that stores every accepted message to disk, counts
             connections, can be scripted per connection, MAIL, RCPT
             (per recipient) and DATA to answer 2xx/4xx/5xx, drop the
             connection or hang, and can offer STARTTLS.
  SmtpSink   Postfix's smtp-sink, for load tests.
  Netns      a private network namespace (root only) with its own
             resolv.conf, for tools that use the system resolver.
  Reviewer   a real Unix user in a real group (root only), made for
             one test and removed after, to run posternctl as it.
  Rbldnsd    Debian's rbldnsd serving DNSBL zones on a loopback port;
  DnsDrop    a forwarder in front of it that never answers the queries
             of chosen zones (a blocklist that does not answer).

Every process is started by us, remembered by pid and stopped by pid
at exit (also on an exception); nothing is ever killed by name.
Nothing is written to the source tree: temp dirs live under $TMPDIR.
Set POSTERN_KEEP_TMP=1 to keep the temp dirs for a post-mortem.

Modules: core (TAP, fixtures registry, ports, temp dirs, waits,
certificates), daemon (Postern), dns (Dns), sink (Sink, SmtpSink),
netns (Netns), unixuser (Reviewer), rbldnsd (Rbldnsd, DnsDrop),
delivery (fnv, domains_on, rcpt_counts, relay_load, max_open: the delivery-loop
tests' helpers); `python3 -m harness sink ...` runs the sink server.
"""

from .core import (BUILDDIR, HERE, HarnessError, PYTHON, SRCDIR, TIME_SCALE, _Tap, _cleanup, _conf_value, _dump_fixtures, _excepthook, _fixtures, _kill_pid, _netns_prefix, _on_signal, _out, _tail_lines, _tap, _tmpdirs, bail_out, diag, done, failed, free_port, free_ports, is_, isnt, like, make_cert, note, ok, plan, run, skip, skip_all, tmpdir, unlike, wait_for, eventually, without_ids)
from .daemon import (Postern, client_tls_context, make_message, queue_id)
from .dns import (Dns, _dq, zone_records)
from .sink import (Sink, SinkMessage, SmtpSink, _sink_main)
from .netns import (Netns)
from .unixuser import (Reviewer)
from .rbldnsd import (DnsDrop, Rbldnsd)
from .delivery import (domains_on, fnv, max_open, rcpt_counts, relay_load)
from .metrics import (eom_runs, scrape_metrics)

__all__ = [
    "plan", "ok", "is_", "isnt", "like", "unlike", "diag", "note", "skip",
    "skip_all", "bail_out", "done", "failed",
    "free_port", "tmpdir", "make_cert", "wait_for", "eventually", "BUILDDIR", "SRCDIR",
    "Postern", "Dns", "Sink", "SinkMessage", "SmtpSink", "Netns",
    "run", "HarnessError",
]
__all__ += ["queue_id", "make_message", "without_ids"]
__all__.append("client_tls_context")
__all__.append("Reviewer")
__all__ += ["Rbldnsd", "DnsDrop"]
__all__.append("zone_records")
__all__ += ["fnv", "domains_on", "rcpt_counts", "max_open", "relay_load"]
__all__ += ["eom_runs", "scrape_metrics"]

# The context-manager form for the other fixtures: start on enter,
# stop on exit (and dump the log when the block raised).
def _enter(self):
    if getattr(self, "proc", None) is None:
        self.start()
    return self


def _exit(self, etype, value, tb):
    if etype is not None:
        self.dump()
    self.close()
    if self in _fixtures:
        _fixtures.remove(self)
    return False


for _cls in (Postern, Dns, Sink, SmtpSink):
    _cls.__enter__ = _enter
    _cls.__exit__ = _exit
