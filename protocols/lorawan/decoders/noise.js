// Payload decoder for the fleetbench sensor type 'noise', binary format 1.
// Generated from the type's field table by fb_binary_js_decoder(): do not edit.
// The Things Stack, ChirpStack v4: decodeUplink({bytes, fPort}); ChirpStack v3: Decode(fPort, bytes).
// ECMAScript 5.1. Values come back at each field's resolution.

// [name, kind, width in bytes, signed, resolution, decimals, enum names]
var FIELDS = [
	["LAeq", "number", 2, false, 0.1, 1, null],
	["LAmax", "number", 2, false, 0.1, 1, null],
	["LAmin", "number", 2, false, 0.1, 1, null],
	["LA10", "number", 2, false, 0.1, 1, null],
	["LA50", "number", 2, false, 0.1, 1, null],
	["LA90", "number", 2, false, 0.1, 1, null]
];

function decodeUplink(input) {
	var bytes = input.bytes, data = {}, size = 1, at = 1, i, j, f, raw;
	for (i = 0; i < FIELDS.length; i++) size += FIELDS[i][2];
	if (!bytes || bytes.length !== size)
		return {errors: ["expected " + size + " bytes, got " + (bytes ? bytes.length : 0)]};
	if (bytes[0] !== 1)
		return {errors: ["unknown format version " + bytes[0]]};
	for (i = 0; i < FIELDS.length; i++) {
		f = FIELDS[i];
		raw = 0;
		for (j = 0; j < f[2]; j++) raw = raw * 256 + bytes[at + j];
		if (f[3] && raw >= Math.pow(2, 8 * f[2] - 1)) raw -= Math.pow(2, 8 * f[2]);
		at += f[2];
		if (f[1] === "bool") data[f[0]] = raw !== 0;
		else if (f[1] === "enum") data[f[0]] = raw < f[6].length ? f[6][raw] : raw;
		else if (f[1] === "integer") data[f[0]] = raw;
		else data[f[0]] = Number((raw * f[4]).toFixed(f[5]));
	}
	return {data: data};
}

function Decode(fPort, bytes) {
	return decodeUplink({bytes: bytes, fPort: fPort}).data;
}
