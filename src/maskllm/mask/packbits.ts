// Bit-packing of 0/1 masks, byte-compatible with numpy's packbits/unpackbits defaults: the flattened (row-major)
// mask, 8 entries per byte, first entry in the most significant bit, the last byte zero-padded.

/** Packs any nonzero entry as a 1 bit. */
export function packBits(mask: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(mask.length / 8));
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

/** Unpacks `count` entries (numpy's `count=` argument); the padding bits of the last byte are ignored. */
export function unpackBits(bytes: Uint8Array, count: number): Uint8Array {
  if (!Number.isInteger(count) || count < 0 || Math.ceil(count / 8) > bytes.length)
    throw new RangeError(`unpackBits: ${bytes.length} bytes cannot hold ${count} bits`);
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}
