/* SPDX-License-Identifier: ISC */
/*
 * fuzz_queue_record: libFuzzer target for the queue's stored record
 * decoders (queue/records.c): a message record as read from data.mdb
 * (msg_record_slot, which start-up reconcile runs on every record) and
 * a recipient record (rcpt_decode).  A damaged data.mdb must never
 * crash the daemon at start or on read.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>

#include "queue_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_rcpt rc;

	(void)msg_record_slot(data, size);
	(void)rcpt_decode(1, data, size, &rc);	/* fields set so far are freed either way */
	rcpt_clear(&rc);
	return 0;
}
