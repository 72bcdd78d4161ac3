# SPDX-License-Identifier: ISC
# src/account/: the account record and its owner.
libpostern_a_SOURCES += src/account/account.c src/account/auth_guard.c src/account/auth_pool.c
noinst_HEADERS += include/account.h include/auth_guard.h include/auth_pool.h
check_PROGRAMS += tests/unit/test_account
tests_unit_test_account_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_account
# account set validation and the account's limits through the real daemon
TESTS += tests/integration/test_account_policy.py
EXTRA_DIST += tests/integration/test_account_policy.py
# the AUTH guard's rule and the password-check pool (issue 12 items 9-11)
check_PROGRAMS += tests/unit/test_auth_guard
tests_unit_test_auth_guard_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_auth_guard
TESTS += tests/integration/test_auth_abuse.py
EXTRA_DIST += tests/integration/test_auth_abuse.py
