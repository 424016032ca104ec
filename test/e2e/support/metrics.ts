/** One sample line of the Prometheus text exposition format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;

/** A scraped /metrics page, parsed just enough for assertions. */
export class MetricsPage {
  readonly samples: readonly Sample[];
  /** Metric family names declared by `# TYPE` lines, with their type. */
  readonly families: ReadonlyMap<string, string>;

  constructor(
    readonly text: string,
    readonly contentType: string,
  ) {
    const samples: Sample[] = [];
    const families = new Map<string, string>();
    for (const line of text.split('\n')) {
      if (line.startsWith('# TYPE ')) {
        const [name = '', type = ''] = line.slice('# TYPE '.length).split(' ');
        families.set(name, type);
        continue;
      }
      if (line === '' || line.startsWith('#')) continue;
      samples.push(parseSample(line));
    }
    this.samples = samples;
    this.families = families;
  }

  /** Samples of `name` whose labels include every one in `labels`. */
  find(name: string, labels: Readonly<Record<string, string>> = {}): Sample[] {
    return this.samples.filter(
      (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
  }

  /** The value of the one matching sample; undefined when none matches, an error when several do. */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
    const found = this.find(name, labels);
    if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
    return found[0]?.value;
  }

  /** Every value a label takes across the samples of `name`. */
  labelValues(name: string, label: string): Set<string> {
    return new Set(this.find(name).flatMap((sample) => (label in sample.labels ? [sample.labels[label] as string] : [])));
  }
}

function parseSample(line: string): Sample {
  const match = SAMPLE_LINE.exec(line);
  if (match === null) throw new Error(`not a sample line: ${line}`);
  const [, name = '', labelText = '', valueText = ''] = match;
  return { name, labels: parseLabels(labelText, line), value: parseValue(valueText, line) };
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL_PAIR.lastIndex = 0;
  while (LABEL_PAIR.lastIndex < text.length) {
    const match = LABEL_PAIR.exec(text);
    if (match === null) throw new Error(`bad labels in: ${line}`);
    const [, key = '', raw = ''] = match;
    labels[key] = raw.replace(/\\(.)/g, (_escape, character: string) => (character === 'n' ? '\n' : character));
  }
  return labels;
}

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  // prom-client writes "Nan" (the event-loop lag before its first sample); Prometheus reads NaN in any case, as Go's ParseFloat does.
  if (text.toLowerCase() === 'nan') return Number.NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`bad value in: ${line}`);
  return value;
}
