# SPDX-License-Identifier: ISC
# src/outbound/: the delivering composition root: routing, engine, bounces.
libpostern_a_SOURCES += src/outbound/route.c src/outbound/bounce.c src/outbound/delivery.c src/outbound/loops.c \
	src/outbound/connection.c src/outbound/webhook.c src/outbound/dest_class.c
noinst_HEADERS += include/webhook.h include/dest_class.h include/route.h include/bounce.h include/delivery.h src/outbound/outbound_int.h
check_PROGRAMS += tests/unit/test_route tests/unit/test_bounce tests/unit/test_dest_class
tests_unit_test_dest_class_LDADD = $(POSTERN_LIBS)
tests_unit_test_bounce_LDADD = $(POSTERN_LIBS)
tests_unit_test_route_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_route tests/unit/test_bounce tests/unit/test_dest_class
TESTS += tests/integration/test_delivery.py tests/integration/test_delivery_tls.py \
	tests/integration/test_delivery_retry.py tests/integration/test_delivery_reuse.py \
	tests/integration/test_delivery_e2e.py tests/integration/test_delivery_backoff.py \
	tests/integration/test_delivery_failover.py tests/integration/test_delivery_loops.py \
	tests/integration/test_delivery_loops_faults.py tests/integration/test_delivery_loops_ops.py \
	tests/integration/test_delivery_loops_route.py tests/integration/test_delivery_moot.py
EXTRA_DIST += tests/integration/test_delivery.py tests/integration/test_delivery_tls.py \
	tests/integration/test_delivery_retry.py tests/integration/test_delivery_reuse.py \
	tests/integration/test_delivery_e2e.py tests/integration/test_delivery_backoff.py \
	tests/integration/test_delivery_failover.py tests/integration/test_delivery_loops.py \
	tests/integration/test_delivery_loops_faults.py tests/integration/test_delivery_loops_ops.py \
	tests/integration/test_delivery_loops_route.py tests/integration/test_delivery_moot.py
# issue 19: signed event webhooks against a local HTTP receiver
TESTS += tests/integration/test_webhooks.py tests/integration/test_webhook_suppress.py
EXTRA_DIST += tests/integration/test_webhooks.py tests/integration/test_webhook_suppress.py
