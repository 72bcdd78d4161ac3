# SPDX-License-Identifier: ISC
# smtp/ module: sources appended to libpostern.a, see Makefile.am.
libpostern_a_SOURCES += smtp/parse.c smtp/data.c smtp/server.c
noinst_HEADERS += include/smtp.h smtp/smtp_int.h
check_PROGRAMS += tests/unit/test_smtp_session
tests_unit_test_smtp_session_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_smtp_session
check_PROGRAMS += tests/unit/test_smtp_parse
tests_unit_test_smtp_parse_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_smtp_parse
tests_unit_test_smtp_parse_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/smtp
check_PROGRAMS += tests/unit/test_smtp_api
tests_unit_test_smtp_api_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_smtp_api
