# SPDX-License-Identifier: ISC
# contrib/: sample config, systemd unit, dev/CI scripts, benchmarks,
# and what `make install` adds beyond programs and man pages: the
# config (never overwriting one that exists), the systemd unit, bash
# completion, and the configured paths in the installed man pages.
EXTRA_DIST += contrib/dev/test.sh contrib/dev/run.sh contrib/dev/deps.sh contrib/postern.service.in \
	contrib/dev/systemd-nspawn.sh contrib/dev/systemd-nspawn-result.txt
EXTRA_DIST += contrib/bench/compare contrib/bench/benchlib.py contrib/bench/smtp-load
EXTRA_DIST += contrib/bench/smtp-accept contrib/bench/auth-flood contrib/bench/submission-ab
EXTRA_DIST += contrib/bench/peers.py contrib/bench/peers-setup.sh
# issue 20 items 2, 5: callgrind per message, one session's steps
EXTRA_DIST += contrib/bench/profile contrib/bench/latency \
	contrib/bench/results/profile-2026-12-01.md
# issue 20 item 3: smtpd_loops 1 vs 2
EXTRA_DIST += contrib/bench/loops-batch contrib/bench/results/compare-loops-2026-12-01.md \
	contrib/bench/results/compare-final-2026-12-01.md
EXTRA_DIST += contrib/bench/results/compare-2026-11-23.md contrib/bench/results/compare-2026-12-01.md \
	contrib/bench/results/auth-flood-2026-12-01.md \
	contrib/bench/results/suppress-2026-12-01.md \
	contrib/bench/results/compare-peers-2026-12-01.md \
	contrib/bench/results/compare-wave2-2026-12-01.md \
	contrib/bench/results/submission-2026-12-01.md
# builds against each other, run by run (its table is tested below)
EXTRA_DIST += contrib/bench/alternate contrib/bench/results/compare-xeon2-2026-12-02.md \
	contrib/bench/results/compare-xeon2-2026-12-02.jsonl
# compare's report logic (durability marking, ratios, skipped peers).
TESTS += tests/integration/test_bench_report.py
EXTRA_DIST += tests/integration/test_bench_report.py
EXTRA_DIST += contrib/posternctl.bash-completion

# Literal default paths in man pages and the sample config become the
# configured ones (the sources are written for the default prefix).
POSTERN_PATH_SED = -e 's|/usr/local/etc|$(sysconfdir)|g' \
	-e 's|/usr/local/var|$(localstatedir)|g' \
	-e 's|/usr/local/sbin|$(sbindir)|g' \
	-e 's|\\fIsysconfdir\\fR|$(sysconfdir)|g' \
	-e 's|\\fIlocalstatedir\\fR|$(localstatedir)|g' \
	-e 's|\([^%a-z_]\)sysconfdir/|\1$(sysconfdir)/|g' \
	-e 's|\([^%a-z_]\)localstatedir/|\1$(localstatedir)/|g'

# The unit: systemd's own directories when the paths are its defaults
# (/var/lib/postern, /run/postern, /etc/postern), else ReadWritePaths for
# the configured ones (posternctl setup creates them).  The erasure
# journal beside the master key is the one file posternd writes under
# $(sysconfdir) (ProtectSystem=strict makes the rest read-only, also a
# ConfigurationDirectory=); posternctl setup creates it for the user.
noinst_DATA = contrib/postern.service
CLEANFILES += contrib/postern.service
contrib/postern.service: $(top_srcdir)/contrib/postern.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib; \
	if test "$(localstatedir)" = /var; then \
	  dirs="StateDirectory=postern;StateDirectoryMode=0700;RuntimeDirectory=postern;RuntimeDirectoryMode=0755"; \
	else \
	  dirs="ReadWritePaths=$(localstatedir)/lib/postern $(localstatedir)/run/postern"; \
	fi; \
	if test "$(sysconfdir)" = /etc; then \
	  dirs="$$dirs;ConfigurationDirectory=postern;ConfigurationDirectoryMode=0750"; \
	fi; \
	dirs="$$dirs;ReadWritePaths=-$(sysconfdir)/postern/erasure.journal"; \
	sed -e 's|%sbindir%|$(sbindir)|g' -e 's|%sysconfdir%|$(sysconfdir)|g' \
	  $(top_srcdir)/contrib/postern.service.in | \
	  awk -v d="$$dirs" '$$0 == "%UNIT_DIRECTORIES%" { n = split(d, a, ";"); \
	    for (i = 1; i <= n; i++) print a[i]; next } { print }' > $@.tmp && mv $@.tmp $@

install-data-hook: install-postern-data
install-postern-data: contrib/postern.service
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)/postern'
	if test -e '$(DESTDIR)$(sysconfdir)/postern/postern.conf'; then \
	  echo "keeping $(DESTDIR)$(sysconfdir)/postern/postern.conf"; \
	  sed $(POSTERN_PATH_SED) $(top_srcdir)/contrib/postern.conf > \
	    '$(DESTDIR)$(sysconfdir)/postern/postern.conf.sample'; \
	else \
	  sed $(POSTERN_PATH_SED) $(top_srcdir)/contrib/postern.conf > \
	    '$(DESTDIR)$(sysconfdir)/postern/postern.conf' && \
	  chmod 0640 '$(DESTDIR)$(sysconfdir)/postern/postern.conf'; \
	fi
	for m in $(dist_man_MANS); do \
	  b=`basename $$m`; s=`echo $$b | sed 's/.*\.//'`; \
	  f='$(DESTDIR)$(mandir)'/man$$s/$$b; \
	  if test -f "$$f"; then sed $(POSTERN_PATH_SED) "$$f" > "$$f.tmp" && mv "$$f.tmp" "$$f"; fi; \
	done
if INSTALL_UNIT
	$(MKDIR_P) '$(DESTDIR)$(systemdsystemunitdir)'
	$(INSTALL_DATA) contrib/postern.service '$(DESTDIR)$(systemdsystemunitdir)/postern.service'
endif
	$(MKDIR_P) '$(DESTDIR)$(bashcompletiondir)'
	$(INSTALL_DATA) $(top_srcdir)/contrib/posternctl.bash-completion \
	  '$(DESTDIR)$(bashcompletiondir)/posternctl'

uninstall-hook:
	rm -f '$(DESTDIR)$(systemdsystemunitdir)/postern.service' \
	  '$(DESTDIR)$(bashcompletiondir)/posternctl' \
	  '$(DESTDIR)$(sysconfdir)/postern/postern.conf.sample'
.PHONY: install-postern-data
