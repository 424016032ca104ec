import { copyFileSync, cpSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

import { REPO_ROOT } from '../../support/process.js';

/**
 * Enough of a Dockerfile reader to check ours without a Docker engine: the
 * stages and their instructions, the build context that .dockerignore lets
 * through, and the runtime stage's file tree assembled the way its COPY lines
 * say. It understands what our Dockerfile uses (ARG, FROM … AS, WORKDIR, COPY
 * [--from], RUN, ENV, USER, ENTRYPOINT, CMD) and refuses anything else, so a
 * new instruction means teaching this file rather than checking less.
 */

export interface Instruction {
  readonly keyword: string;
  readonly text: string;
}

export interface Stage {
  readonly name: string | undefined;
  readonly image: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  readonly stages: readonly Stage[];
  /** The last stage: what the image is. */
  readonly runtime: Stage;
}

const KNOWN = new Set(['ARG', 'FROM', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'ENTRYPOINT', 'CMD']);

export function readDockerfile(path = join(REPO_ROOT, 'Dockerfile')): Dockerfile {
  const logical = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const args: Record<string, string> = {};
  const stages: Array<{ name: string | undefined; image: string; instructions: Instruction[] }> = [];
  for (const line of logical) {
    const space = line.search(/\s/);
    const keyword = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const text = space < 0 ? '' : line.slice(space).trim();
    if (!KNOWN.has(keyword)) throw new Error(`Dockerfile: ${keyword} is not understood by test/deploy/support/dockerfile.ts`);
    if (keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = text.split('=', 2) as [string, string?];
      args[name] = value;
      continue;
    }
    if (keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(text);
      if (match === null) throw new Error(`Dockerfile: cannot read FROM ${text}`);
      const image = (match[1] as string).replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => args[(a ?? b) as string] ?? '');
      stages.push({ name: match[2], image, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new Error(`Dockerfile: ${keyword} before the first FROM`);
    stage.instructions.push({ keyword, text });
  }
  const runtime = stages.at(-1);
  if (runtime === undefined) throw new Error('Dockerfile: no FROM');
  return { stages, runtime };
}

export function stageNamed(dockerfile: Dockerfile, name: string): Stage {
  const stage = dockerfile.stages.find((candidate) => candidate.name === name);
  if (stage === undefined) throw new Error(`Dockerfile: no stage ${name}`);
  return stage;
}

export function instructions(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.text);
}

/** The last WORKDIR of a stage (absolute). */
export function workdir(stage: Stage): string {
  const dir = instructions(stage, 'WORKDIR').at(-1);
  if (dir === undefined || !dir.startsWith('/')) throw new Error(`Dockerfile: stage ${stage.name ?? '(last)'} needs an absolute WORKDIR`);
  return dir;
}

/** ENTRYPOINT or CMD in exec form (a JSON array); shell form is refused (no signals to the program). */
export function execForm(stage: Stage, keyword: 'ENTRYPOINT' | 'CMD'): string[] | undefined {
  const text = instructions(stage, keyword).at(-1);
  if (text === undefined) return undefined;
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === 'string')) throw new Error(`Dockerfile: ${keyword} must be a JSON array`);
  return parsed as string[];
}

/** ENV lines of a stage (KEY=value form). */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const text of instructions(stage, 'ENV')) {
    for (const pair of text.split(/\s+/)) {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`Dockerfile: write ENV as KEY=value, got ${text}`);
      env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  return env;
}

export interface Copy {
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly destination: string;
}

export function copies(stage: Stage): Copy[] {
  return instructions(stage, 'COPY').map((text) => {
    const words = text.split(/\s+/);
    let from: string | undefined;
    while (words[0]?.startsWith('--')) {
      const flag = words.shift() as string;
      const match = /^--from=(\S+)$/.exec(flag);
      if (match === null) throw new Error(`Dockerfile: COPY ${flag} is not understood`);
      from = match[1];
    }
    const destination = words.pop();
    if (destination === undefined || words.length === 0) throw new Error(`Dockerfile: cannot read COPY ${text}`);
    return { from, sources: words, destination };
  });
}

/**
 * .dockerignore as Docker reads it (moby/patternmatcher): patterns in order,
 * `!` re-includes, and the last pattern that matches the path or one of its
 * parent directories decides.
 */
export class DockerIgnore {
  private readonly rules: ReadonlyArray<{ readonly exclude: boolean; readonly pattern: RegExp }>;

  constructor(text: string) {
    this.rules = text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const exclude = !line.startsWith('!');
        const pattern = posix.normalize((exclude ? line : line.slice(1)).replace(/^\/+/, '')).replace(/\/+$/, '');
        return { exclude, pattern: globToRegExp(pattern) };
      });
  }

  static read(path = join(REPO_ROOT, '.dockerignore')): DockerIgnore {
    return new DockerIgnore(existsSync(path) ? readFileSync(path, 'utf8') : '');
  }

  /** Whether a context path (relative, with `/`) reaches the build. */
  includes(path: string): boolean {
    const parts = path.split('/');
    const selfAndParents = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
    let excluded = false;
    for (const rule of this.rules) {
      if (selfAndParents.some((candidate) => rule.pattern.test(candidate))) excluded = rule.exclude;
    }
    return !excluded;
  }
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** How a stage's files map to this machine: `/app/dist/src` of the build stage is the repository's dist/src. */
export type StageFiles = (stage: string, absolutePath: string) => string;

/**
 * Builds the runtime stage's files under `root` (standing for `/`) from its
 * COPY lines: context sources through .dockerignore, other stages' files through
 * `stageFiles`. Returns the runtime WORKDIR's place under `root`.
 */
export function assembleRuntime(dockerfile: Dockerfile, root: string, stageFiles: StageFiles, ignore = DockerIgnore.read()): string {
  const { runtime } = dockerfile;
  const dir = workdir(runtime);
  for (const copy of copies(runtime)) {
    if (copy.sources.length !== 1) throw new Error('Dockerfile: copy one source per COPY (the checks map each one)');
    const source = copy.sources[0] as string;
    const from = copy.from === undefined ? join(REPO_ROOT, source) : stageFiles(copy.from, posix.resolve('/', source));
    if (!existsSync(from)) throw new Error(`COPY ${copy.from === undefined ? '' : `--from=${copy.from} `}${source}: nothing at ${from} (run make build)`);
    // A directory's contents go to the destination; a file goes into it when it ends with "/".
    const intoDirectory = copy.destination.endsWith('/') && !statSync(from).isDirectory();
    const target = join(root, posix.resolve(dir, copy.destination), intoDirectory ? posix.basename(source) : '');
    mkdirSync(dirname(target), { recursive: true });
    if (copy.from === undefined) {
      const relative = posix.normalize(source).replace(/\/+$/, '');
      if (!ignore.includes(relative)) throw new Error(`COPY ${source}: .dockerignore keeps it out of the build context`);
      cpSync(from, target, {
        recursive: true,
        filter: (path) => path === from || ignore.includes(posix.join(relative, path.slice(from.length + 1))),
      });
    } else {
      linkTree(from, target);
    }
  }
  return join(root, dir);
}

/**
 * Copies a file or directory tree as hard links where it can (node_modules is
 * thousands of files; a link per file is much faster than a copy), else as a copy.
 * Symbolic links are copied as links.
 */
export function linkTree(from: string, to: string): void {
  const stat = lstatSync(from);
  if (stat.isDirectory()) {
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(from)) linkTree(join(from, name), join(to, name));
  } else if (stat.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
  } else {
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
    }
  }
}

/**
 * What a container runs, by Kubernetes' rules: `command` replaces the image's
 * ENTRYPOINT (and drops its CMD), `args` replaces CMD.
 */
export function containerArgv(
  container: { readonly command?: readonly string[]; readonly args?: readonly string[] },
  image: Dockerfile,
): string[] {
  if (container.command !== undefined) return [...container.command, ...(container.args ?? [])];
  return [...(execForm(image.runtime, 'ENTRYPOINT') ?? []), ...(container.args ?? execForm(image.runtime, 'CMD') ?? [])];
}
