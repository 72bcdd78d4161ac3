#!/bin/sh
# SPDX-License-Identifier: ISC
# test_loops_existing: a chosen set of existing SMTP, relay, limits,
# AUTH, delivery, metrics and crash tests (and issue 20 item 4's
# verified-credential cache, shared by the loops, and TLS resumption,
# whose ticket keys are the process's) run again with smtpd_loops = 2
# (issue 20 item 3): the harness writes smtpd_loops from
# $POSTERN_TEST_SMTPD_LOOPS (tests/integration/harness/daemon.py).  One
# TAP line per test file; a failing file's own TAP output is shown as
# comments.  Run from the build directory, as make check does.
dir="${POSTERN_SRCDIR:-${srcdir:-.}}/tests/integration"
set -- test_smtp_relay.py test_smtp_submission.py test_smtp_backpressure.py \
	test_smtp_deadlines.py test_auth_abuse.py test_delivery.py test_metrics.py \
	test_queue_crash.py test_account_policy.py test_feedback.py \
	test_auth_cache.py test_tls_resume.py
echo "1..$#"
n=0
for t in "$@"; do
	n=$((n + 1))
	out=$(POSTERN_TEST_SMTPD_LOOPS=2 /usr/bin/python3 "$dir/$t" 2>&1)
	if [ $? -eq 0 ]; then
		echo "ok $n - $t with smtpd_loops = 2"
	else
		echo "not ok $n - $t with smtpd_loops = 2"
		printf '%s\n' "$out" | grep -v '^ok ' | sed 's/^/# /' | tail -60
	fi
done
