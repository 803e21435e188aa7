// SAM-5 LUN field (8 bytes) <-> flat LUN number. Only the first level is used: peripheral
// device addressing (method 00b, bus 0: LUN 0..255) and flat space addressing (method 01b:
// LUN 0..16383). Other methods decode to -1, which no target has.

/** Decodes the 8-byte LUN at buf[off..off+8). Returns -1 for unsupported addressing. */
export function decodeLun(buf: Buffer, off = 0): number {
  const b0 = buf[off]!;
  const b1 = buf[off + 1]!;
  const method = b0 >> 6;
  // A second-level address (bytes 2..7 non-zero) is a hierarchical LUN we don't have.
  for (let i = 2; i < 8; i++) if (buf[off + i] !== 0) return -1;
  if (method === 0) {
    const bus = b0 & 0x3f;
    return bus === 0 ? b1 : -1;
  }
  if (method === 1) return ((b0 & 0x3f) << 8) | b1;
  return -1;
}

/** Encodes a LUN number the way Linux and libiscsi do: peripheral below 256, flat above. */
export function encodeLun(lun: number, out: Buffer = Buffer.alloc(8), off = 0): Buffer {
  if (!Number.isInteger(lun) || lun < 0 || lun > 0x3fff) throw new RangeError(`LUN ${lun} out of range`);
  out.fill(0, off, off + 8);
  if (lun < 256) {
    out[off + 1] = lun;
  } else {
    out[off] = 0x40 | (lun >> 8);
    out[off + 1] = lun & 0xff;
  }
  return out;
}
