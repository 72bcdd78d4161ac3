# SPDX-License-Identifier: ISC
# policy/ module: sources appended to libpostern.a, see Makefile.am.
libpostern_a_SOURCES += policy/policy.c
noinst_HEADERS += include/policy.h include/queue.h
libpostern_a_SOURCES += policy/headers.c
check_PROGRAMS += tests/unit/test_policy_headers
tests_unit_test_policy_headers_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_policy_headers
