/**
 * Reading fields of a parsed YAML or JSON document (the endpoints file, a
 * GRPCRoute object) with errors that say where: `<where>.<key>: must be a
 * string`. One home for these rules; each document throws its own error class.
 */
export interface DocumentFields {
  asObject(value: unknown, where: string): Record<string, unknown>;
  /** A list, or [] when absent. */
  asList(value: unknown, where: string): readonly unknown[];
  requireString(object: Record<string, unknown>, key: string, where: string): string;
  optionalString(object: Record<string, unknown>, key: string, where: string): string | undefined;
  optionalBoolean(object: Record<string, unknown>, key: string, where: string): boolean | undefined;
}

export function documentFields(fail: (message: string) => Error): DocumentFields {
  const optionalString = (object: Record<string, unknown>, key: string, where: string): string | undefined => {
    const value = object[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw fail(`${where}.${key}: must be a string`);
    return value;
  };
  return {
    asObject(value, where) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`${where}: must be a mapping`);
      return value as Record<string, unknown>;
    },
    asList(value, where) {
      if (value === undefined || value === null) return [];
      if (!Array.isArray(value)) throw fail(`${where}: must be a list`);
      return value;
    },
    requireString(object, key, where) {
      const value = optionalString(object, key, where);
      if (value === undefined || value === '') throw fail(`${where}.${key}: is required`);
      return value;
    },
    optionalString,
    optionalBoolean(object, key, where) {
      const value = object[key];
      if (value === undefined || value === null) return undefined;
      if (typeof value !== 'boolean') throw fail(`${where}.${key}: must be true or false`);
      return value;
    },
  };
}
