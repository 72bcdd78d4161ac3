/* SPDX-License-Identifier: ISC */
/*
 * fuzz_config.c: libFuzzer target for the postern.conf parser.  Feeds
 * arbitrary bytes to config_parse() (which must either return a config
 * or an error text, never crash or leak), dumps an accepted config,
 * takes and drops a second reference, and runs the value helpers
 * (durations, sizes, addresses, CIDRs) on the first line of the input.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[4096], host[256], line[512];
	struct config_cidr cidr;
	struct config *cfg;
	uint64_t u;
	size_t n;
	int port;

	cfg = config_parse("fuzz.conf", (const char *)data, size, err, sizeof(err));
	if (cfg != NULL) {
		FILE *devnull = fopen("/dev/null", "w");

		if (devnull != NULL) {
			config_dump(cfg, devnull);
			fclose(devnull);
		}
		config_unref(config_ref(cfg));
		config_unref(cfg);
	} else if (memchr(err, '\0', sizeof(err)) == NULL) {
		abort();	/* the error text must be terminated */
	}

	n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	memcpy(line, data, n);
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	(void)config_parse_duration(line, &u);
	(void)config_parse_size(line, &u);
	if (config_parse_address(line, host, sizeof(host), &port) == 0 &&
	    (port < 0 || port > 65535 || strlen(host) >= sizeof(host)))
		abort();
	if (config_parse_cidr(line, &cidr) == 0 &&
	    (cidr.bits < 0 || cidr.bits > (cidr.family == AF_INET ? 32 : 128)))
		abort();
	return 0;
}
