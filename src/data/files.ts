// Reading annotation files: text split into lines and fields, with errors that name the file,
// the line and what was expected.
import { readFileSync, statSync } from 'node:fs';

/** Extensions torchvision's ImageFolder accepts (compared case-insensitively). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** Throws a clear error if an annotation file is missing; `what` names the dataset. */
export function requireFile(file: string, what: string): void {
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    // Missing: reported below.
  }
  if (!isFile) throw new Error(`${what}: missing annotation file ${file}`);
}

export function readText(file: string, what: string): string {
  requireFile(file, what);
  return readFileSync(file, 'utf8');
}

export interface Line {
  /** 1-based line number. */
  readonly number: number;
  readonly fields: string[];
}

/** The non-blank lines of a text file, split on whitespace. */
export function readLines(file: string, what: string): Line[] {
  const lines: Line[] = [];
  readText(file, what)
    .split(/\r?\n/)
    .forEach((text, i) => {
      const trimmed = text.trim();
      if (trimmed !== '') lines.push({ number: i + 1, fields: trimmed.split(/\s+/) });
    });
  return lines;
}

/** Parses an integer field of a line, or throws naming the file, line and field. */
export function intField(text: string, file: string, line: number, field: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new Error(`${file}:${line}: ${field} must be an integer, got '${text}'`);
  return Number(text);
}

/** Reads a CUB-style `<id> <value>` file into a map, checking that each line has `arity` fields. */
export function readIdTable(file: string, what: string, arity: number): Map<number, { line: number; fields: string[] }> {
  const table = new Map<number, { line: number; fields: string[] }>();
  for (const { number, fields } of readLines(file, what)) {
    if (fields.length !== arity) throw new Error(`${file}:${number}: expected ${arity} fields, got ${fields.length}`);
    const id = intField(fields[0], file, number, 'id');
    if (table.has(id)) throw new Error(`${file}:${number}: duplicate id ${id}`);
    table.set(id, { line: number, fields: fields.slice(1) });
  }
  return table;
}
