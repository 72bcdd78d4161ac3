# SPDX-License-Identifier: ISC
# policy/ module: sources appended to libpostern.a, see Makefile.am.
libpostern_a_SOURCES += policy/policy.c
noinst_HEADERS += include/policy.h include/queue.h
libpostern_a_SOURCES += policy/headers.c
check_PROGRAMS += tests/unit/test_policy_headers
tests_unit_test_policy_headers_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_policy_headers

# MIME parser, sensitive-data detectors, redaction and their EOM stage (issue 7).
libpostern_a_SOURCES += policy/mime.c policy/dlp.c policy/redact.c policy/dlp_stage.c
noinst_HEADERS += include/mime.h include/dlp.h
check_PROGRAMS += tests/unit/test_dlp tests/unit/test_mime tests/unit/test_dlp_stage
tests_unit_test_dlp_LDADD = $(POSTERN_LIBS)
tests_unit_test_mime_LDADD = $(POSTERN_LIBS)
tests_unit_test_dlp_stage_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_dlp tests/unit/test_mime tests/unit/test_dlp_stage
# Precision/recall of the scan over a generated corpus, fails below 0.98.
TESTS += tests/integration/test_dlp_corpus.py
EXTRA_DIST += tests/dlp_corpus.py tests/integration/test_dlp_corpus.py
# The scanner benchmark (run by hand: contrib/bench/dlp-scan/run.sh).
EXTRA_DIST += contrib/bench/dlp-scan/dlp-scan.c contrib/bench/dlp-scan/run.sh
