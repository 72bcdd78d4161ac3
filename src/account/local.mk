# SPDX-License-Identifier: ISC
# src/account/: the account record and its owner.
libpostern_a_SOURCES += src/account/account.c src/account/abuse.c
noinst_HEADERS += include/account.h
check_PROGRAMS += tests/unit/test_account
tests_unit_test_account_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_account
# account set validation and the account's limits through the real daemon
TESTS += tests/integration/test_account_policy.py
EXTRA_DIST += tests/integration/test_account_policy.py
