# SPDX-License-Identifier: ISC
# contrib/: sample config, systemd unit, dev/CI scripts, benchmarks.
EXTRA_DIST += contrib/dev/test.sh contrib/dev/run.sh contrib/dev/deps.sh contrib/postern.service
EXTRA_DIST += contrib/bench/compare contrib/bench/benchlib.py contrib/bench/smtp-load
EXTRA_DIST += contrib/bench/smtp-accept contrib/bench/auth-flood
EXTRA_DIST += contrib/bench/results/compare-2026-11-23.md contrib/bench/results/compare-2026-12-01.md \
	contrib/bench/results/auth-flood-2026-12-01.md \
	contrib/bench/results/suppress-2026-12-01.md
