/**
 * The one rule for the names in a greeting, shared by the greet server (gRPC
 * INVALID_ARGUMENT) and the gateway (HTTP 400) so both reject the same input.
 */

export const MAX_NAME_CHARACTERS = 256;

export const NAME_FIELDS = ['first_name', 'last_name'] as const;
export type NameField = (typeof NAME_FIELDS)[number];

/**
 * C0 (tab and line breaks included), DEL and C1, plus the Unicode line and
 * paragraph separators: a name is one line of text, and these would reach the
 * greeting, the caller's screen and the logs as they are.
 */
const CONTROL_CHARACTER = /[\p{Cc}\u2028\u2029]/u;

/** Returns why `value` is not an acceptable name, or undefined when it is. */
export function checkName(field: NameField, value: unknown): string | undefined {
  if (value === undefined || value === null) return `${field} is required`;
  if (typeof value !== 'string') return `${field} must be a string, got ${describeType(value)}`;
  if (value.trim() === '') return `${field} must not be empty`;
  const control = CONTROL_CHARACTER.exec(value);
  if (control !== null) {
    const codePoint = (control[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
    return `${field} must not contain control characters (tabs and line breaks included); found U+${codePoint}`;
  }
  // Most names are short: only count code points (not UTF-16 units) when it could matter.
  if (value.length > MAX_NAME_CHARACTERS && countCodePoints(value) > MAX_NAME_CHARACTERS) {
    return `${field} must be at most ${MAX_NAME_CHARACTERS} characters, got ${countCodePoints(value)}`;
  }
  return undefined;
}

function countCodePoints(value: string): number {
  let count = 0;
  for (const _ of value) count += 1;
  return count;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
