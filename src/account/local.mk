# SPDX-License-Identifier: ISC
# src/account/: the account record and its owner.
libpostern_a_SOURCES += src/account/account.c
noinst_HEADERS += include/account.h
# Suppression lists: the record and the store (issue 14).
libpostern_a_SOURCES += src/account/suppress.c
noinst_HEADERS += include/suppress.h
check_PROGRAMS += tests/unit/test_suppress
tests_unit_test_suppress_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_suppress
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
