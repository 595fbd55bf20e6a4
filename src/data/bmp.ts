// Windows bitmaps, read in JavaScript because sharp's prebuilt libvips has no BMP loader: the
// uncompressed kinds (1-, 4- and 8-bit palettes, 24-bit, 32-bit with or without bit-field
// masks), bottom-up or top-down, as PIL reads them (alpha dropped, as convert('RGB') does).
// Run-length-encoded and 16-bit files are refused by name.
import type { Image } from './dataset.js';
import { checkPixels } from './image_size.js';

/** Decodes a BMP file, or returns null when `b` does not start with 'BM'. */
export function readBmp(b: Uint8Array): Image | null {
  if (b.length < 2 || b[0] !== 0x42 || b[1] !== 0x4d) return null;
  if (b.length < 26) throw new Error(`BMP: truncated header (${b.length} bytes)`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const pixelsAt = v.getUint32(10, true);
  const headerSize = v.getUint32(14, true);
  let width: number, height: number, bits: number, compression = 0, paletteSize = 0;
  if (headerSize === 12) {
    width = v.getUint16(18, true);
    height = v.getInt16(20, true);
    bits = v.getUint16(24, true);
  } else if (headerSize >= 40 && b.length >= 54) {
    width = v.getInt32(18, true);
    height = v.getInt32(22, true);
    bits = v.getUint16(28, true);
    compression = v.getUint32(30, true);
    paletteSize = v.getUint32(46, true);
  } else {
    throw new Error(`BMP: unsupported header size ${headerSize}`);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width < 1 || height < 1) throw new Error(`BMP: size ${width}×${height} must be at least 1×1`);
  checkPixels(width, height);
  const BI_RGB = 0;
  const BI_BITFIELDS = 3;
  if (compression !== BI_RGB && !(compression === BI_BITFIELDS && bits === 32)) {
    throw new Error(`BMP: compression ${compression} with ${bits} bits per pixel is not supported (only uncompressed 1/4/8/24/32-bit files)`);
  }
  if (![1, 4, 8, 24, 32].includes(bits)) throw new Error(`BMP: ${bits} bits per pixel is not supported (only 1, 4, 8, 24 or 32)`);

  let palette: Uint8Array | null = null;
  if (bits <= 8) {
    const entry = headerSize === 12 ? 3 : 4;
    const count = paletteSize || 1 << bits;
    const at = 14 + headerSize;
    if (count > 256 || at + count * entry > b.length) throw new Error(`BMP: palette of ${count} colours does not fit the file`);
    palette = new Uint8Array(256 * 3);
    for (let k = 0; k < count; k++) for (let c = 0; c < 3; c++) palette[3 * k + c] = b[at + k * entry + 2 - c];
  }
  // Bit-field masks (after a 40-byte header, or inside a V4/V5 header): each channel's shift.
  let shifts = [16, 8, 0];
  if (compression === BI_BITFIELDS) {
    if (b.length < 66) throw new Error('BMP: truncated bit-field masks');
    shifts = [54, 58, 62].map((at) => {
      const mask = v.getUint32(at, true);
      const shift = mask === 0 ? -1 : 31 - Math.clz32(mask & -mask);
      if (mask === 0 || mask >>> shift !== 0xff) throw new Error(`BMP: bit-field mask 0x${mask.toString(16)} is not supported (only 8-bit channels)`);
      return shift;
    });
  }
  const stride = Math.ceil((width * bits) / 32) * 4;
  if (pixelsAt + stride * height > b.length) throw new Error(`BMP: truncated: ${width}×${height} at ${bits} bits needs ${stride * height} bytes of pixels from byte ${pixelsAt}, the file has ${b.length}`);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = pixelsAt + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const out = 3 * (y * width + x);
      if (palette) {
        const k = bits === 8 ? b[row + x] : bits === 4 ? (b[row + (x >> 1)] >> (x & 1 ? 0 : 4)) & 15 : (b[row + (x >> 3)] >> (7 - (x & 7))) & 1;
        data.set(palette.subarray(3 * k, 3 * k + 3), out);
      } else if (bits === 24) {
        data[out] = b[row + 3 * x + 2];
        data[out + 1] = b[row + 3 * x + 1];
        data[out + 2] = b[row + 3 * x];
      } else {
        const p = v.getUint32(row + 4 * x, true);
        for (let c = 0; c < 3; c++) data[out + c] = (p >>> shifts[c]) & 0xff;
      }
    }
  }
  return { data, width, height, channels: 3 };
}
