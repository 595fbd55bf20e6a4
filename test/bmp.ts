// A BMP written byte by byte (uncompressed 1/4/8/24/32-bit, bottom-up or top-down; BI_BITFIELDS
// at 32 bits), for tests and the fuzzer that need files PIL reads and sharp cannot write.
export interface BmpOptions {
  topDown?: boolean;
  compression?: number; // 0 uncompressed, 3 bitfields (masks written); others for refusal tests
}

/** `fill(n)` gives the n bytes after the header: palette (bits ≤ 8) then pixel rows. */
export function bmpFile(width: number, height: number, bits: 1 | 4 | 8 | 24 | 32, fill: (n: number) => Uint8Array, options: BmpOptions = {}): Buffer {
  const stride = Math.ceil((width * bits) / 32) * 4;
  const palette = bits <= 8 ? (1 << bits) * 4 : 0;
  const masks = options.compression === 3 ? 12 : 0;
  const offset = 54 + masks + palette;
  const b = Buffer.alloc(offset + stride * height);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(offset, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(options.topDown ? -height : height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(bits, 28);
  b.writeUInt32LE(options.compression ?? 0, 30);
  if (masks) [0xff0000, 0xff00, 0xff].forEach((m, k) => b.writeUInt32LE(m, 54 + 4 * k));
  b.set(fill(b.length - 54 - masks), 54 + masks);
  return b;
}
