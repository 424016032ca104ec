/** Input checks for Resolve, kept free of gRPC so they can be tested on their own. */

const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL_LENGTH = 63;
const MAX_ECHOED_LENGTH = 80;

export function isRfc1123Label(value: string): boolean {
  return value.length <= MAX_LABEL_LENGTH && RFC1123_LABEL.test(value);
}

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
    `at most ${MAX_LABEL_LENGTH} characters)`
  );
}
