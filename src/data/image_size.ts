// Image dimensions and colour kind from a file's header (JPEG, PNG, WebP), read in JavaScript:
// a crop that depends on the size can then be decoded, cropped and resized in one sharp call,
// without a separate metadata round trip. Returns null when the header is not recognised; the
// caller then asks sharp (and reports a corrupt file from there).

/**
 * 'grey' and 'rgb' are 8-bit files sharp decodes to PIL's values; 'other' (CMYK JPEG, 16-bit
 * PNG) needs PIL's own conversions (see image_file.ts).
 */
/** PIL's Image.MAX_IMAGE_PIXELS: larger images are refused as decompression bombs. */
export const MAX_IMAGE_PIXELS = 89_478_485;

/** Throws unless a width × height image is within MAX_IMAGE_PIXELS. */
export function checkPixels(width: number, height: number): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new Error(`${width}×${height} = ${width * height} pixels, more than PIL's limit of ${MAX_IMAGE_PIXELS} (a decompression bomb?)`);
  }
}

export type ColourKind = 'grey' | 'rgb' | 'other';

export interface ImageHeader {
  width: number;
  height: number;
  colour: ColourKind;
}

export function imageSize(b: Uint8Array): ImageHeader | null {
  const u16be = (o: number): number => (b[o] << 8) | b[o + 1];
  const u16le = (o: number): number => b[o] | (b[o + 1] << 8);
  const u24le = (o: number): number => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);
  const u32be = (o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  const ascii = (o: number, s: string): boolean => [...s].every((c, k) => b[o + k] === c.charCodeAt(0));
  const sized = (width: number, height: number, colour: ColourKind = 'rgb'): ImageHeader | null => (width > 0 && height > 0 ? { width, height, colour } : null);

  if (b.length >= 26 && ascii(1, 'PNG') && ascii(12, 'IHDR')) {
    // Colour types 0 and 4 are grey (with alpha), 2, 3 and 6 colour; 16-bit samples are 'other'.
    const colour = b[24] === 16 ? 'other' : b[25] === 0 || b[25] === 4 ? 'grey' : 'rgb';
    return sized(u32be(16), u32be(20), colour);
  }

  if (b.length >= 30 && ascii(0, 'RIFF') && ascii(8, 'WEBP')) {
    if (ascii(12, 'VP8 ')) return sized(u16le(26) & 0x3fff, u16le(28) & 0x3fff);
    if (ascii(12, 'VP8L')) return sized(1 + (((b[22] & 0x3f) << 8) | b[21]), 1 + (((b[24] & 0x0f) << 10) | (b[23] << 2) | ((b[22] & 0xc0) >> 6)));
    if (ascii(12, 'VP8X')) return sized(1 + u24le(24), 1 + u24le(27));
    return null;
  }

  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    // Walk the JPEG markers up to the start-of-frame, which holds the size.
    let o = 2;
    while (o + 9 < b.length) {
      if (b[o] !== 0xff) return null;
      const marker = b[o + 1];
      if (marker === 0xff) {
        o++; // fill byte
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
        o += 2; // markers without a length
        continue;
      }
      const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isFrame) return sized(u16be(o + 7), u16be(o + 5), b[o + 9] === 1 ? 'grey' : b[o + 9] === 3 ? 'rgb' : 'other');
      if (marker === 0xda || marker === 0xd9) return null; // scan data or end before any frame
      o += 2 + u16be(o + 2);
    }
  }
  return null;
}
