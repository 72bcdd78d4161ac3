# SPDX-License-Identifier: ISC
# queue/ module: sources appended to libpostern.a, see Makefile.am.
libpostern_a_SOURCES += \
	queue/actions.c \
	queue/check.c \
	queue/db.c \
	queue/dbfile.c \
	queue/id.c \
	queue/journal.c \
	queue/keys.c \
	queue/keystore.c \
	queue/outbox.c \
	queue/pause.c \
	queue/purge.c \
	queue/queue.c \
	queue/records.c \
	queue/retry.c \
	queue/review.c \
	queue/sched.c \
	queue/spamdb.c \
	queue/subject.c \
	queue/writer.c
noinst_HEADERS += queue/queue_int.h

check_PROGRAMS += tests/unit/test_queue tests/unit/test_queue_crypto tests/unit/test_json
tests_unit_test_queue_LDADD = $(POSTERN_LIBS)
tests_unit_test_queue_crypto_LDADD = $(POSTERN_LIBS)
tests_unit_test_json_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_queue tests/unit/test_queue_crypto tests/unit/test_json
tests_unit_test_queue_crypto_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/queue
check_PROGRAMS += tests/unit/test_control
tests_unit_test_control_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_control
TESTS += tests/integration/test_queue.py tests/integration/test_queue_crash.py \
	tests/integration/test_queue_cli.py tests/integration/test_queue_diskfull.py \
	tests/integration/test_queue_integrity.py tests/integration/test_queue_ops.py \
	tests/integration/test_queue_keystore.py tests/integration/test_keystore_pool_crash.py \
	tests/integration/test_keystore_shred.py tests/integration/test_keystore_pool_diskfull.py \
	tests/integration/test_privacy_at_rest.py tests/integration/test_privacy_crash.py \
	tests/integration/test_privacy_verify.py
EXTRA_DIST += tests/integration/test_queue.py tests/integration/test_queue_crash.py \
	tests/integration/test_queue_cli.py tests/integration/test_queue_diskfull.py \
	tests/integration/test_queue_integrity.py tests/integration/test_queue_ops.py \
	tests/integration/test_queue_keystore.py tests/integration/test_keystore_pool_crash.py \
	tests/integration/test_keystore_shred.py tests/integration/keyscan.py \
	tests/integration/test_keystore_pool_diskfull.py \
	tests/integration/test_privacy_at_rest.py tests/integration/rawscan.py \
	tests/integration/test_privacy_crash.py \
	tests/integration/test_privacy_verify.py tests/integration/attacker.py \
	tests/integration/queuelib.py

# Micro-benchmark, run by hand: ./contrib/bench/queue-commit [-t s] [-d dir]
noinst_PROGRAMS += contrib/bench/queue-commit
contrib_bench_queue_commit_LDADD = $(POSTERN_LIBS)

# queue_commit() of a message in pieces (issue 11 item 6), bodies not left mapped.
check_PROGRAMS += tests/unit/test_queue_iov
tests_unit_test_queue_iov_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_queue_iov

# db_delete_matching(): the walk-collect-delete loop of purge.c and subject.c.
check_PROGRAMS += tests/unit/test_queue_db
tests_unit_test_queue_db_LDADD = $(POSTERN_LIBS)
tests_unit_test_queue_db_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/queue
TESTS += tests/unit/test_queue_db

# The key store that can forget (issue 13): slots, ordering, reconcile, raw files.
check_PROGRAMS += tests/unit/test_keystore
tests_unit_test_keystore_LDADD = $(POSTERN_LIBS)
tests_unit_test_keystore_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/queue
TESTS += tests/unit/test_keystore
# issue 17: zero body retention, X-Postern-Retention
TESTS += tests/integration/test_retention_zero.py tests/integration/test_purge_batches.py
EXTRA_DIST += tests/integration/test_retention_zero.py tests/integration/test_purge_batches.py

# issue 20 item 2: a delivery result waits for company (writer_linger)
TESTS += tests/integration/test_result_linger.py
EXTRA_DIST += tests/integration/test_result_linger.py
# a shutdown's drain does not wait out the linger (queue_drain)
TESTS += tests/integration/test_result_linger_drain.py
EXTRA_DIST += tests/integration/test_result_linger_drain.py
