# SPDX-License-Identifier: ISC
# src/net/: network adapters: dns (the only c-ares user), tls (OpenSSL),
# stream (one socket + TLS byte path for inbound and outbound connections),
# http (the only libmicrohttpd user: a bounded HTTP server on the loop),
# httpc (the only libcurl user: an HTTP client on the loop, for webhooks).
libpostern_a_SOURCES += src/net/dns.c src/net/tls.c src/net/stream.c src/net/http.c \
	src/net/httpc.c
noinst_HEADERS += include/dns.h include/tls.h include/stream.h include/http.h include/httpc.h tests/unit/testdns.h
check_PROGRAMS += tests/unit/test_tls tests/unit/test_stream tests/unit/test_dns tests/unit/test_http
tests_unit_test_tls_LDADD = $(POSTERN_LIBS)
tests_unit_test_dns_LDADD = $(POSTERN_LIBS)
tests_unit_test_stream_LDADD = $(POSTERN_LIBS)
tests_unit_test_http_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_tls tests/unit/test_stream tests/unit/test_dns tests/unit/test_http
# TLS session resumption on the submission listeners (issue 20 item 4)
TESTS += tests/integration/test_tls_resume.py
EXTRA_DIST += tests/integration/test_tls_resume.py
