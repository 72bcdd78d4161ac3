/* SPDX-License-Identifier: ISC */
/*
 * id.c: queue ids.  QUEUE_ID_LEN (20) characters of Crockford base32,
 * whose alphabet is in ASCII order, so ids sort by creation time as
 * plain strings and are safe to print, log and use as file names:
 * 10 characters of wall-clock milliseconds (50 bits) followed by 10 of
 * a 50-bit counter.  The counter is seeded randomly each millisecond
 * and incremented within it (as ULID's monotonic mode does), so ids
 * made by one process are strictly increasing and ids of different
 * nodes collide only with negligible probability.  Thread safe.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <string.h>

#include "crypto.h"
#include "queue_int.h"
#include "util.h"

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t id_last_ms;
static uint64_t id_counter;

#define MASK50 ((UINT64_C(1) << 50) - 1)

static void
b32_put(char *out, uint64_t v)
{
	int i;

	for (i = 9; i >= 0; i--) {
		out[i] = b32[v & 31];
		v >>= 5;
	}
}

void
id_new(char out[QUEUE_ID_LEN + 1])
{
	uint64_t ms = now_wall_ms(), c;

	pthread_mutex_lock(&id_lock);
	if (ms > id_last_ms) {
		id_last_ms = ms;
		crypto_random_bytes(&id_counter, sizeof(id_counter));
		id_counter &= MASK50 >> 1;	/* room to count up */
	} else {
		ms = id_last_ms;		/* clock went back: stay monotonic */
		id_counter++;
		if (id_counter > MASK50) {	/* exhausted: borrow the next ms */
			id_last_ms = ++ms;
			id_counter = 0;
		}
	}
	c = id_counter;
	pthread_mutex_unlock(&id_lock);
	b32_put(out, ms & MASK50);
	b32_put(out + 10, c & MASK50);
	out[QUEUE_ID_LEN] = '\0';
}

int
id_valid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != QUEUE_ID_LEN)
		return 0;
	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (strchr(b32, s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}
