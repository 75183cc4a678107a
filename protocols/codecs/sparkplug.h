/* Sparkplug B payloads (Eclipse Sparkplug 3.0, chapter 6) through protobuf-c, from the project's
 * own protocols/codecs/sparkplug_b.proto. Pure functions: the MQTT transport owns the session
 * rules (bdSeq incremented per CONNECT, seq 0..255 across the edge node's messages, births after
 * connect and on rebirth, which messages to send) and passes bdSeq/seq in.
 *
 * Mapping (an edge node is a site, its devices are devices):
 * - one metric per field, named as the field: NUMBER -> Double, INTEGER -> Int32 when
 *   [min, max] fits in 32 bits, else Int64; BOOL -> Boolean; ENUM -> String (the name).
 * - payload timestamp and every metric's timestamp: the sample's scheduled time in ms.
 * - aliases (optional): a device's metric i has alias `alias_base + i`; the transport chooses
 *   bases so aliases are unique across the edge node (e.g. (device index in site + 1) << 8).
 *   Births carry name and alias, DDATA the alias only (Sparkplug 3.0 §6.4.3). Node metrics never
 *   have aliases, so "Node Control/Rebirth" is never aliased.
 * - NBIRTH: bdSeq (UInt64) and "Node Control/Rebirth" (Boolean false).
 * - NDEATH (the will): bdSeq only, no seq.
 * - DDEATH: timestamp and seq, no metrics.
 *
 * Every encoder returns the payload length, or FB_CODEC_ENOSPC when it does not fit in cap
 * (nothing is written then). Nothing allocates: messages are built on the stack and the command
 * decoders unpack into a stack arena. */
#ifndef FB_SPARKPLUG_H
#define FB_SPARKPLUG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "protocols/codec.h"

enum fb_spb_msg {
	FB_SPB_NBIRTH, FB_SPB_NDEATH, FB_SPB_DBIRTH, FB_SPB_DDEATH,
	FB_SPB_NDATA, FB_SPB_DDATA, FB_SPB_NCMD, FB_SPB_DCMD
};

/* Sparkplug 3.0 §6.4.16 datatype codes used here. */
enum fb_spb_datatype {
	FB_SPB_INT32 = 3, FB_SPB_INT64 = 4, FB_SPB_UINT64 = 8, FB_SPB_DOUBLE = 10,
	FB_SPB_BOOLEAN = 11, FB_SPB_STRING = 12
};

#define FB_SPB_NO_ALIAS UINT64_MAX   /* alias_base: no aliases */
#define FB_SPB_REBIRTH "Node Control/Rebirth"

extern const struct fb_codec fb_sparkplug_codec;

/* "NBIRTH", "DDATA", ... */
const char *fb_spb_msg_name(enum fb_spb_msg type);
/* spBv1.0/<group>/<type>/<edge>[/<device>] (device for D* types only, else ignored), NUL-terminated.
 * Returns the length, or FB_CODEC_ENOSPC (cap counts the NUL), FB_CODEC_EINVAL (a D* type without
 * a device, or an id that is empty or contains '+', '/' or '#'). */
ssize_t fb_spb_topic(char *buf, size_t cap, const char *group, enum fb_spb_msg type,
                     const char *edge, const char *device);

/* The datatype of a field's metric. */
enum fb_spb_datatype fb_spb_datatype(const struct fb_field *f);

ssize_t fb_spb_nbirth(uint64_t bdseq, fb_time_us t, uint8_t seq, uint8_t *buf, size_t cap);
/* t < 0: no timestamp (a will registered before the time is known). */
ssize_t fb_spb_ndeath(uint64_t bdseq, fb_time_us t, uint8_t *buf, size_t cap);
/* Every field of the sample's model with name, datatype, value (and alias). */
ssize_t fb_spb_dbirth(const struct fb_sample *s, uint8_t seq, uint64_t alias_base,
                      uint8_t *buf, size_t cap);
/* The fields whose value differs from prev[i] (prev NULL: all fields). */
ssize_t fb_spb_ddata(const struct fb_sample *s, const double *prev, uint8_t seq,
                     uint64_t alias_base, uint8_t *buf, size_t cap);
ssize_t fb_spb_ddeath(fb_time_us t, uint8_t seq, uint8_t *buf, size_t cap);

/* An NCMD: *rebirth is set when it carries "Node Control/Rebirth" = true. Other node metrics are
 * ignored. Returns 0 or FB_CODEC_EINVAL (not a Sparkplug payload, or too large to decode). */
int fb_spb_decode_ncmd(const uint8_t *buf, size_t len, bool *rebirth);
/* A DCMD: metric writes addressed by name (or by alias when alias_base != FB_SPB_NO_ALIAS) into
 * commands. Returns the number written to out, or FB_CODEC_EINVAL (not a payload, a metric without
 * name/alias or value), FB_CODEC_EFIELD, FB_CODEC_ERANGE, FB_CODEC_ENOSPC (more than max). */
int fb_spb_decode_dcmd(const struct fb_model *m, uint64_t alias_base, const uint8_t *buf,
                       size_t len, struct fb_command *out, size_t max);

/* A DDATA or DBIRTH payload as a sample: the payload timestamp into out->ts, each metric into its
 * field by name, or by alias when *alias_base names the device's aliases (alias_base NULL or
 * *alias_base == FB_SPB_NO_ALIAS: names only). A metric carrying both name and alias (a birth)
 * sets *alias_base for the DDATA that follow. DDATA carries only the metrics that changed, so
 * only those are present; seq stays -1 (the payload's seq is the edge node's, not the sample's)
 * and the device is in the topic. Returns 0, FB_CODEC_EINVAL (not a payload, a metric without
 * name and alias, a value of another type than the field's, a duplicate), FB_CODEC_EFIELD (an
 * unknown metric name or alias), FB_CODEC_ERANGE (an unknown enum name). */
int fb_spb_decode_data(const struct fb_model *m, uint64_t *alias_base, const uint8_t *buf,
                       size_t len, struct fb_decoded *out);

#endif
