/* SPDX-License-Identifier: ISC */
/*
 * dest_class.h: the destination class of a delivery (issue 19), the
 * bounded `class` label of postern_delivery_recipients_total
 * (src/outbound/dest_class.c).  Built-in classes, in this order:
 *
 *   google     gmail.com googlemail.com google.com
 *   microsoft  outlook.com hotmail.com hotmail.co.uk live.com msn.com
 *   yahoo      yahoo.com yahoo.co.uk yahoo.fr yahoo.de ymail.com
 *              rocketmail.com aol.com yahoodns.net
 *   apple      icloud.com me.com mac.com apple.com
 *   literal    the recipient domain is an address literal ([192.0.2.1])
 *   transport  routed by the transport table and matched by nothing else
 *   other      everything else
 *
 * A suffix matches the recipient's domain or the MX host the delivery
 * went to (aspmx.l.google.com, *.mail.protection.outlook.com): the name
 * itself or any name below it.  metrics_delivery_classes adds up to
 * DEST_CLASS_EXTRA classes or suffixes of built-in ones ("name:suffix"
 * items), checked first; so the label has at most DEST_CLASS_MAX values.
 */
#ifndef POSTERN_DEST_CLASS_H
#define POSTERN_DEST_CLASS_H

#include <stddef.h>

#include "config.h"

#define DEST_CLASS_EXTRA 8		/* classes metrics_delivery_classes may add */
#define DEST_CLASS_BUILTIN 7
#define DEST_CLASS_MAX (DEST_CLASS_BUILTIN + DEST_CLASS_EXTRA)
#define DEST_CLASS_SUFFIXES 64		/* suffix items metrics_delivery_classes may give */
#define DEST_CLASS_NAME_MAX 24

struct dest_classes {
	size_t n;			/* classes: the built-in ones, then added ones */
	char names[DEST_CLASS_MAX][DEST_CLASS_NAME_MAX];
	size_t nsuffix;			/* configured suffixes, checked before built-in */
	struct { char suffix[256]; size_t cls; } suffixes[DEST_CLASS_SUFFIXES];
};

/* The built-in classes plus ITEMS ("name:suffix" each; NULL or empty:
 * none).  0, or -1 with a message in ERR. */
int dest_classes_parse(struct dest_classes *out, const struct config_list *items, char *err,
    size_t errlen);
/* The class index of a delivery to DOMAIN through MX_HOST (NULL or "":
 * not known), VIA_TRANSPORT when the transport table chose the hop. */
size_t dest_class_of(const struct dest_classes *c, const char *domain, const char *mx_host,
    int via_transport);
const char *dest_class_name(const struct dest_classes *c, size_t i);

#endif
