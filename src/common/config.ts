/**
 * Environment parsing shared by every process. Each reader either returns a
 * valid value or throws a ConfigError naming the variable and what it accepts,
 * so a bad deployment fails at start-up with a message a person can act on.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function readString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function readOptionalString(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export interface Bounds {
  readonly min: number;
  readonly max: number;
}

export function readInteger(env: Env, name: string, fallback: number, bounds: Bounds): number {
  return readBounded(env, name, fallback, bounds, /^-?\d+$/, 'a whole number');
}

/** Reads a decimal number such as `0.25` or `3`, within `bounds` (inclusive). */
export function readNumber(env: Env, name: string, fallback: number, bounds: Bounds): number {
  return readBounded(env, name, fallback, bounds, /^-?(\d+\.?\d*|\.\d+)$/, 'a number');
}

/** A number written as `pattern` allows, within `bounds`; `kind` names it in the error. */
function readBounded(env: Env, name: string, fallback: number, bounds: Bounds, pattern: RegExp, kind: string): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = pattern.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(Math.trunc(parsed)) || parsed < bounds.min || parsed > bounds.max) {
    throw new ConfigError(name, `must be ${kind} from ${bounds.min} to ${bounds.max}, got "${value}"`);
  }
  return parsed;
}

export function readPort(env: Env, name: string, fallback: number): number {
  return readInteger(env, name, fallback, { min: 0, max: 65_535 });
}

/** Reads one of a fixed set of words, case-insensitively; returns the canonical spelling. */
export function readChoice<T extends string>(
  env: Env,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const match = choices.find((choice) => choice.toLowerCase() === value.toLowerCase());
  if (match === undefined) {
    throw new ConfigError(name, `must be one of ${choices.join(', ')}, got "${value}"`);
  }
  return match;
}

/** Reads a comma-separated list; blanks are dropped, so "" means an empty list. */
export function readList(env: Env, name: string): string[] {
  const value = raw(env, name);
  if (value === undefined) return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function readLogLevel(env: Env): LogLevel {
  return readChoice(env, 'LOG_LEVEL', LOG_LEVELS, 'info');
}
