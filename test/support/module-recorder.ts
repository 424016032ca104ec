import { appendFileSync } from 'node:fs';

/**
 * Module customization hooks (node:module register) that append every
 * resolved import to a file as `<importer URL>\t<imported URL>`, so a test
 * can tell which modules a program's main thread loads. Registered by
 * record-modules.ts through `node --import`.
 */
let file: string | undefined;

export async function initialize(data: { file: string }): Promise<void> {
  file = data.file;
}

type Resolved = { url: string };
type Next = (specifier: string, context: { parentURL?: string }) => Promise<Resolved>;

export async function resolve(specifier: string, context: { parentURL?: string }, next: Next): Promise<Resolved> {
  const result = await next(specifier, context);
  if (file !== undefined) appendFileSync(file, `${context.parentURL ?? ''}\t${result.url}\n`);
  return result;
}
