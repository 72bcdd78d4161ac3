/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dns_answer: libFuzzer target for the DNS answer parser in
 * src/dns.c (name decompression, CNAME chains, MX/A/AAAA/TXT data, SOA
 * negative TTL).  The first byte picks the query type; the rest is the
 * packet a resolver (or an attacker spoofing one) sent.  Every result
 * is copied and freed, so ASan sees each record's memory.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_CNAME };
	struct dns_result r, copy;

	if (size < 1)
		return 0;
	dns_parse_answer(data + 1, size - 1, "example.test", types[data[0] % 5], &r);
	dns_result_copy(&copy, &r);
	dns_result_clear(&copy);
	dns_result_clear(&r);
	return 0;
}
