# SPDX-License-Identifier: ISC
# tests/: shared unit tests, integration harness, fuzz replay.
# Module unit tests are listed in their module's local.mk.
check_PROGRAMS += tests/unit/test_buf tests/unit/test_config
tests_unit_test_buf_LDADD = $(POSTERN_LIBS)
tests_unit_test_config_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_buf tests/unit/test_config
EXTRA_DIST += tests/tap.h
EXTRA_DIST += contrib/postern.conf

# Integration tests: Python scripts (TAP) using the shared harness.
EXTRA_DIST += tests/integration/README tests/integration/harness/__init__.py \
	tests/integration/harness/__main__.py tests/integration/harness/core.py \
	tests/integration/harness/daemon.py tests/integration/harness/dns.py \
	tests/integration/harness/sink.py tests/integration/harness/netns.py \
	tests/integration/harness/unixuser.py tests/integration/harness/webhook.py \
	tests/integration/harness/rbldnsd.py tests/integration/harness/delivery.py \
	tests/integration/harness/metrics.py
INTEGRATION_TESTS = tests/integration/test_harness.py tests/integration/test_daemon.py
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS)
# Sanitizer builds run several times slower: the harness scales its waits.
if SANITIZED
AM_TESTS_ENVIRONMENT += POSTERN_TIME_SCALE=4; export POSTERN_TIME_SCALE;
endif

# The daemon's module life cycle with fake modules.
check_PROGRAMS += tests/unit/test_daemon
tests_unit_test_daemon_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_daemon

# The layering rule (README "Architecture"), checked on the built objects.
TESTS += tests/check-deps.sh tests/check-control.sh
EXTRA_DIST += tests/check-deps.sh tests/check-control.sh

# Replies come from the one catalogue (src/lib/outcome.c), checked on the sources.
TESTS += tests/check-replies.sh tests/check-devdeps.sh
EXTRA_DIST += tests/check-replies.sh tests/check-devdeps.sh
