# SPDX-License-Identifier: ISC
# src/account/: the account record and its owner.
# Suppression lists: the record and the store (issue 14).
libpostern_a_SOURCES += src/account/suppress.c
noinst_HEADERS += include/suppress.h
check_PROGRAMS += tests/unit/test_suppress
tests_unit_test_suppress_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_suppress
libpostern_a_SOURCES += src/account/account.c src/account/abuse.c src/account/auth_guard.c src/account/auth_pool.c \
    src/account/auth_cache.c
noinst_HEADERS += include/account.h include/auth_guard.h include/auth_pool.h include/auth_cache.h
check_PROGRAMS += tests/unit/test_account
tests_unit_test_account_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_account
# account set validation and the account's limits through the real daemon
TESTS += tests/integration/test_account_policy.py
EXTRA_DIST += tests/integration/test_account_policy.py
# Suppression lists end to end: hard bounces, RCPT, drop, posternctl suppress.
TESTS += tests/integration/test_suppress.py
EXTRA_DIST += tests/integration/test_suppress.py
# Benchmark, run by hand: ./contrib/bench/suppress/suppress-lookup [-n entries] [-l lookups]
# and sh contrib/bench/suppress/accept.sh (accept ratio, 1M entries vs empty).
noinst_PROGRAMS += contrib/bench/suppress/suppress-lookup
contrib_bench_suppress_suppress_lookup_LDADD = $(POSTERN_LIBS)
EXTRA_DIST += contrib/bench/suppress/accept.sh
# the AUTH guard's rule and the password-check pool (issue 12 items 9-11)
check_PROGRAMS += tests/unit/test_auth_guard
tests_unit_test_auth_guard_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_auth_guard
TESTS += tests/integration/test_auth_abuse.py
EXTRA_DIST += tests/integration/test_auth_abuse.py
# the verified-credential cache: end to end (issue 20 item 4)
TESTS += tests/integration/test_auth_cache.py
EXTRA_DIST += tests/integration/test_auth_cache.py
