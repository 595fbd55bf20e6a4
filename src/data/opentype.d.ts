// The part of opentype.js (1.3) that the glyph dataset and its tests use. Declared here rather
// than with @types/opentype.js, which pulls the DOM library into the whole project's types.
declare module 'opentype.js' {
  export type PathCommand =
    | { type: 'M' | 'L'; x: number; y: number }
    | { type: 'Q'; x1: number; y1: number; x: number; y: number }
    | { type: 'C'; x1: number; y1: number; x2: number; y2: number; x: number; y: number }
    | { type: 'Z' };

  export class Path {
    commands: PathCommand[];
    moveTo(x: number, y: number): void;
    lineTo(x: number, y: number): void;
    close(): void;
  }

  export class Glyph {
    constructor(options: { name: string; unicode?: number; advanceWidth: number; path: Path });
    index: number;
    name: string | null;
    /** The outline at (x, y) scaled to fontSize, y pointing down. */
    getPath(x?: number, y?: number, fontSize?: number): Path;
  }

  export class Font {
    constructor(options: { familyName: string; styleName: string; unitsPerEm: number; ascender: number; descender: number; glyphs: Glyph[] });
    unitsPerEm: number;
    glyphs: { get(index: number): Glyph };
    charToGlyph(c: string): Glyph;
    toArrayBuffer(): ArrayBuffer;
  }

  export function parse(buffer: ArrayBuffer): Font;

  const opentype: { parse: typeof parse; Font: typeof Font; Glyph: typeof Glyph; Path: typeof Path };
  export default opentype;
}
