/* FIWARE IoT Agent MQTT topics (iotagent-ul and iotagent-json user manuals), for the `ul` and
 * `fiware-json` codecs. The transport publishes measures and command results and subscribes to
 * commands on these. */
#ifndef FB_FIWARE_H
#define FB_FIWARE_H
#include <stddef.h>
#include <sys/types.h>

enum fb_fiware_topic {
	FB_FIWARE_ATTRS,    /* /<proto>/<apikey>/<device>/attrs     measures, device -> agent */
	FB_FIWARE_CMD,      /* /<apikey>/<device>/cmd               commands, agent -> device (no proto) */
	FB_FIWARE_CMDEXE    /* /<proto>/<apikey>/<device>/cmdexe    command results, device -> agent */
};

/* Flags: the agents also accept the legacy topics without the protocol prefix, with or without
 * the leading slash. */
#define FB_FIWARE_LEGACY   1u   /* no "/<proto>" prefix */
#define FB_FIWARE_NO_SLASH 2u   /* no leading '/' */

/* Writes the NUL-terminated topic for proto "ul" or "json" into buf. Returns its length, or -1
 * (FB_CODEC_ENOSPC) when it does not fit in cap bytes with the NUL. */
ssize_t fb_fiware_topic(char *buf, size_t cap, enum fb_fiware_topic kind, const char *proto,
                        const char *apikey, const char *device, unsigned flags);

#endif
