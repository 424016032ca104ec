import { parseJsonLine } from './child.js';

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** pino's own fields, already shown in the prefix or not worth the width. */
const HIDDEN_FIELDS = new Set(['level', 'time', 'msg', 'app', 'pid', 'name', 'hostname', 'v']);
const COLORS = [36, 33, 35, 32, 34, 31];

/**
 * Turns a child's pino JSON line into one readable terminal line:
 * `greet-1    | INFO  listening port=50051 …`. Other lines pass through.
 */
export class LogFormatter {
  private readonly width: number;

  constructor(
    names: readonly string[],
    private readonly color: boolean,
  ) {
    this.width = Math.max(...names.map((name) => name.length));
  }

  format(name: string, index: number, line: string, stream: 'stdout' | 'stderr'): string {
    const prefix = this.paint(`${name.padEnd(this.width)} |`, COLORS[index % COLORS.length] ?? 0);
    const entry = parseJsonLine(line);
    if (entry === undefined) return `${prefix} ${stream === 'stderr' ? 'stderr ' : ''}${line}`;
    const level = LEVELS[Number(entry['level'])] ?? 'INFO';
    const fields = Object.entries(entry)
      .filter(([key]) => !HIDDEN_FIELDS.has(key))
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    const levelText = level === 'WARN' || level === 'ERROR' || level === 'FATAL' ? this.paint(level.padEnd(5), 31) : level.padEnd(5);
    return `${prefix} ${levelText} ${String(entry['msg'] ?? '')}${fields === '' ? '' : ` ${this.paint(fields, 90)}`}`;
  }

  private paint(text: string, code: number): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }
}
