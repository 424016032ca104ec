/** Input checks for Resolve, kept free of gRPC so they can be tested on their own. */

import { isRfc1123Label } from '../common/addresses.js';

const MAX_ECHOED_LENGTH = 80;

/** Quotes user input for an error message, cut short so a huge value cannot flood logs. */
export function quoteInput(value: string): string {
  const shown = value.length > MAX_ECHOED_LENGTH ? `${value.slice(0, MAX_ECHOED_LENGTH)}…` : value;
  return JSON.stringify(shown);
}

/**
 * Returns a message saying what is wrong with a name, or undefined when it is a
 * valid RFC 1123 label. `field` names the request field in the message.
 */
export function checkLabel(field: string, value: string, required: boolean): string | undefined {
  if (value === '') return required ? `${field} is required` : undefined;
  if (isRfc1123Label(value)) return undefined;
  return (
    `${field} ${quoteInput(value)} is not a valid name: it must be an RFC 1123 label ` +
    `(lower-case letters, digits and '-', starting and ending with a letter or digit, ` +
    `at most 63 characters)`
  );
}
