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


# client side (deliver helper): reply parser, client FSM
libpostern_a_SOURCES += smtp/reply.c
noinst_HEADERS += include/smtp_reply.h
check_PROGRAMS += tests/unit/test_smtp_reply
tests_unit_test_smtp_reply_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_smtp_reply
libpostern_a_SOURCES += smtp/client.c
noinst_HEADERS += include/smtp_client.h
check_PROGRAMS += tests/unit/test_smtp_client
tests_unit_test_smtp_client_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_smtp_client

# Message text is not buffered twice on its way in (issue 11 item 6):
# heap counted by wrapping malloc & co. at link time.
check_PROGRAMS += tests/unit/test_smtp_text
tests_unit_test_smtp_text_SOURCES = tests/unit/test_smtp_text.c tests/unit/heapcount.c tests/unit/heapcount.h
tests_unit_test_smtp_text_LDADD = $(POSTERN_LIBS)
tests_unit_test_smtp_text_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=free
TESTS += tests/unit/test_smtp_text
