# SPDX-License-Identifier: ISC
"""posternd's /metrics (metrics_listen) as the tests read it: curl, as an
operator's scraper would."""

import re
import subprocess


def scrape_metrics(port):
    """The Prometheus text of http://127.0.0.1:PORT/metrics ("" on failure)."""
    r = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/metrics" % port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    return r.stdout


def eom_runs(port):
    """postern_eom_runs_total by where ({"loop": n, "pool": n}; None when absent)."""
    text = scrape_metrics(port)
    out = {}
    for where in ("loop", "pool"):
        m = re.search(r'(?m)^postern_eom_runs_total\{where="%s"\} (\d+)$' % where, text)
        out[where] = int(m.group(1)) if m else None
    return out
