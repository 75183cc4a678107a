/* LoRaWAN identities and keys of a fleet: derived deterministically from (run seed, global device
 * index) through fb_hash64 with FB_RNG_IDS, or read from a CSV keys file; and written for
 * bulk provisioning of a network server (`fleetbench keys SCENARIO --format csv|chirpstack|tts`).
 *
 * Derived identities (locally administered EUI-64s, prefix 02:FB):
 *   JoinEUI  02FB sssS 0000 0000     s = 16-bit tag of the seed
 *   DevEUI   02FB ssss iiii iiii     i = global device index
 *   DevAddr  NwkID(7 bits of NetID) | index (25 bits)
 *   AppKey, NwkSKey, AppSKey: 128-bit values of fb_hash64(seed, index, FB_RNG_IDS, k). */
#ifndef FB_LW_KEYS_H
#define FB_LW_KEYS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct fb_lw_identity {
	uint64_t dev_eui, join_eui;
	uint8_t app_key[16];
	uint32_t dev_addr;                 /* ABP */
	uint8_t nwk_s_key[16], app_s_key[16];
};

void fb_lw_identity_derive(uint64_t seed, uint32_t device, uint32_t net_id,
                           struct fb_lw_identity *out);
/* The DevAddr of global device index `device` in network net_id (LoRaWAN Backend Interfaces
 * §13, type-0 NetID): NwkID, the NetID's 6 low bits, then the index's 25 low bits as NwkAddr.
 * The derived ABP address, and the one the bench's network server assigns at a join. */
uint32_t fb_lw_dev_addr(uint32_t net_id, uint32_t device);
/* The gateway EUI of gateway number `index` (0-based over the scenario): 02FBFFFE iiii iiii. */
uint64_t fb_lw_gateway_eui(uint32_t index);
/* The EUI shard i (> 0) uses for a gateway that other shards' devices reach too: bits 32..47
 * XORed with i (02FBFFFE iiiiiiii -> 02FB FFFE^i iiiiiiii), so no two shards, and no shard and
 * an unsharded run's other gateways, share an EUI. Shard 0 keeps the plain EUI. */
uint64_t fb_lw_gateway_eui_shard(uint64_t eui, uint32_t shard_index);

/* A keys file: CSV with the header `device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key`
 * (the format `fleetbench keys --format csv` writes; empty ABP columns allowed for OTAA).
 * Loads rows for devices [first, first + count) into ids (count entries); every device in the
 * range whose required[i] is set (all when required is NULL) must have a row. Returns 0, or -1 after a "file:line: error" message. */
int fb_lw_keys_load_csv(const char *path, uint32_t first, uint32_t count,
                        struct fb_lw_identity *ids, const bool *required);

enum fb_lw_keys_format { FB_LW_KEYS_CSV, FB_LW_KEYS_CHIRPSTACK, FB_LW_KEYS_TTS };
/* "csv", "chirpstack", "tts" -> format, or -1. */
int fb_lw_keys_format_parse(const char *name);

/* Writes one device in `format`. name is its device id ("light-000042"); abp fills the ABP
 * columns (csv) or session fields. fb_lw_keys_write_begin/end frame the output (header line for
 * csv, "[" and "]" for chirpstack's JSON array; nothing for tts, which takes one JSON object per
 * line with `ttn-lw-cli end-devices create` / the console's bulk import). version is "1.0.4" or
 * "1.0.3". Returns 0, or -1 on a write error. */
int fb_lw_keys_write_begin(FILE *out, enum fb_lw_keys_format format);
int fb_lw_keys_write_device(FILE *out, enum fb_lw_keys_format format, const char *name,
                            const struct fb_lw_identity *id, bool abp, const char *version,
                            bool first);
int fb_lw_keys_write_end(FILE *out, enum fb_lw_keys_format format);

#endif
