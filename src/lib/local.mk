# SPDX-License-Identifier: ISC
# src/lib/: the base layer.  The only src/ code smtp/, queue/ and policy/
# may call (tests/check-deps.sh enforces it).
libpostern_a_SOURCES += \
	src/lib/addr.c \
	src/lib/buf.c \
	src/lib/crypto.c \
	src/lib/hash.c \
	src/lib/histo.c \
	src/lib/json.c \
	src/lib/log.c \
	src/lib/outcome.c \
	src/lib/token.c \
	src/lib/util.c
noinst_HEADERS = include/histo.h \
	include/addr.h \
	include/buf.h \
	include/crypto.h \
	include/hash.h \
	include/json.h \
	include/log.h \
	include/outcome.h \
	include/token.h \
	include/util.h
check_PROGRAMS += tests/unit/test_crypto
tests_unit_test_crypto_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_crypto
check_PROGRAMS += tests/unit/test_util
tests_unit_test_util_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_util
check_PROGRAMS += tests/unit/test_outcome
tests_unit_test_outcome_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_outcome
check_PROGRAMS += tests/unit/test_hash
tests_unit_test_hash_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_hash
check_PROGRAMS += tests/unit/test_addr
tests_unit_test_addr_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_addr

# log_scrub: addresses in remote replies pseudonymised (issue 13).
check_PROGRAMS += tests/unit/test_log_scrub
tests_unit_test_log_scrub_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_log_scrub
