# SPDX-License-Identifier: ISC
# src/net/: network adapters: dns (the only c-ares user), tls (OpenSSL).
libpostern_a_SOURCES += src/net/dns.c src/net/tls.c
noinst_HEADERS += include/dns.h include/tls.h tests/unit/testdns.h
check_PROGRAMS += tests/unit/test_tls tests/unit/test_dns
tests_unit_test_tls_LDADD = $(POSTERN_LIBS)
tests_unit_test_dns_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_tls tests/unit/test_dns
