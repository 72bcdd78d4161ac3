# SPDX-License-Identifier: ISC
# policy/ module: sources appended to libpostern.a, see Makefile.am.
libpostern_a_SOURCES += policy/policy.c
noinst_HEADERS += include/policy.h include/queue.h
libpostern_a_SOURCES += policy/dkim.c
noinst_HEADERS += include/dkim.h
libpostern_a_SOURCES += policy/spf.c
noinst_HEADERS += include/spf.h
# test drivers for the verifier-based integration tests
check_PROGRAMS += tests/tools/dkim_signfile tests/tools/spf_check
tests_tools_dkim_signfile_LDADD = $(POSTERN_LIBS)
tests_tools_spf_check_LDADD = $(POSTERN_LIBS)
TESTS += tests/integration/test_dkim.py
EXTRA_DIST += tests/integration/test_dkim.py tests/integration/dkimtest.py
TESTS += tests/integration/test_spf.py
EXTRA_DIST += tests/integration/test_spf.py
check_PROGRAMS += tests/unit/test_dkim tests/unit/test_spf
tests_unit_test_dkim_LDADD = $(POSTERN_LIBS)
tests_unit_test_spf_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_dkim tests/unit/test_spf
dist_man_MANS += man/posternctl-dkim.8
