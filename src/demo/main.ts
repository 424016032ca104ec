import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ConfigError, readChoice, readInteger, readList, readPort, readString, type Env } from '../common/config.js';
import { BALANCING_MODES, type BalancingMode } from '../greet/gateway/config.js';
import { DemoChild } from './child.js';
import { LogFormatter } from './format.js';

/**
 * The local demo (`make demo`): three greet servers on loopback, the
 * lookaside reading an endpoints file, and the gateway on :9091. The
 * terminal shows every child's log; Ctrl-C stops them all. This is a
 * terminal program, so it writes to stdout directly.
 */

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIST = join(REPO_ROOT, 'dist', 'src');
const DEFAULT_ENDPOINTS_FILE = join(REPO_ROOT, '.cache', 'demo', 'endpoints.yaml');
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 10_000;
const PORT_HINT = 'Is a port taken? Set GATEWAY_PORT, LB_PORT or GREET_PORTS (e.g. GREET_PORTS=50061,50062,50063; 0 = any free port).';
/** Children stop quickly: nobody routes around a demo pod while it drains. */
const DEMO_CHILD_ENV = { LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info', SHUTDOWN_DRAIN_MS: '0', SHUTDOWN_GRACE_SECONDS: '5' };

/** Ports may be 0 (any free port): the demo reads the bound ones from each child's "listening" line. */
interface DemoConfig {
  readonly gatewayPort: number;
  readonly lookasidePort: number;
  readonly greetPorts: readonly number[];
  readonly endpointsFile: string;
  /** The gateway's BALANCING (`make demo BALANCING=xds`). */
  readonly balancing: BalancingMode;
  /**
   * CANARY: the share of calls (0–100) a fourth server, version v2, takes
   * through a GRPCRoute in the endpoints file; the other three are v1.
   * Undefined: no route, one version.
   */
  readonly canaryPercent: number | undefined;
}

function loadDemoConfig(env: Env): DemoConfig {
  const greetPorts = readList(env, 'GREET_PORTS');
  const ports = greetPorts.length === 0 ? [50_051, 50_052, 50_053] : greetPorts.map(Number);
  if (ports.some((port) => !Number.isInteger(port) || port < 0 || port > 65_535)) {
    throw new ConfigError('GREET_PORTS', `must be a comma-separated list of ports, got "${greetPorts.join(',')}"`);
  }
  return {
    gatewayPort: readPort(env, 'GATEWAY_PORT', 9_091),
    lookasidePort: readPort(env, 'LB_PORT', 50_055),
    greetPorts: ports,
    endpointsFile: readString(env, 'ENDPOINTS_FILE', DEFAULT_ENDPOINTS_FILE),
    balancing: readChoice(env, 'BALANCING', BALANCING_MODES, 'lookaside'),
    canaryPercent: env['CANARY'] === undefined || env['CANARY'] === '' ? undefined : readInteger(env, 'CANARY', 0, { min: 0, max: 100 }),
  };
}

class Demo {
  private readonly children: DemoChild[] = [];
  private readonly formatter: LogFormatter;
  private stopping: Promise<void> | undefined;
  private started = false;

  constructor(private readonly config: DemoConfig) {
    const names = [...config.greetPorts.map((_, index) => `greet-${index + 1}`), ...(config.canaryPercent === undefined ? [] : ['greet-v2']), 'lookaside', 'gateway'];
    this.formatter = new LogFormatter(names, process.stdout.isTTY === true);
  }

  async start(): Promise<void> {
    const canary = this.config.canaryPercent;
    const servers = await Promise.all(
      this.config.greetPorts.map((port, index) => this.startGreetServer(`greet-${index + 1}`, port, canary === undefined ? '' : 'v1')),
    );
    const v2 = canary === undefined ? undefined : await this.startGreetServer('greet-v2', 0, 'v2');
    await writeEndpointsFile(this.config.endpointsFile, servers, v2 === undefined || canary === undefined ? undefined : { v2, percent: canary });

    const lookaside = this.spawn('lookaside', 'lookaside/main.js', {
      DISCOVERY: 'file',
      ENDPOINTS_FILE: this.config.endpointsFile,
      LB_HOST: '127.0.0.1',
      LB_PORT: String(this.config.lookasidePort),
      METRICS_PORT: '0',
    });
    const lookasideListening = await lookaside.waitForLog('listening', START_TIMEOUT_MS);
    const lookasidePort = Number(lookasideListening['port']);

    const gateway = this.spawn('gateway', 'greet/gateway/main.js', {
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(this.config.gatewayPort),
      LB_ADDR: `127.0.0.1:${lookasidePort}`,
      GRPC_SVC: 'greetserver',
      POD_NAMESPACE: 'default',
      ...modeEnv(this.config.balancing, servers.map((server) => server.address)),
    });
    const gatewayPort = Number((await gateway.waitForLog('listening', START_TIMEOUT_MS))['port']);
    // An xDS channel has no pod until the lookaside's first push: show the banner once it has.
    if (this.config.balancing === 'xds') await waitUntilReady(gatewayPort);
    this.started = true;
    this.printBanner(gatewayPort, lookasidePort, Number(lookasideListening['metricsPort']));
  }

  private async startGreetServer(name: string, port: number, version: string): Promise<DemoServer> {
    const child = this.spawn(name, 'greet/server/main.js', {
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(port),
      METRICS_PORT: '0',
      POD_NAME: name,
      POD_IP: '127.0.0.1',
      GREET_VERSION: version,
    });
    const listening = await child.waitForLog('listening', START_TIMEOUT_MS);
    return { name, address: `127.0.0.1:${Number(listening['port'])}` };
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Stops every child (gateway first, greet servers last), once, however often it is called. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const child of [...this.children].reverse()) await child.stop(STOP_GRACE_MS);
    })();
    return this.stopping;
  }

  /** Safety net for an unexpected exit of the launcher: no child outlives it. */
  killAll(): void {
    for (const child of this.children) child.killNow();
  }

  private spawn(name: string, script: string, env: Record<string, string>): DemoChild {
    const index = this.children.length;
    const child = new DemoChild(
      name,
      join(DIST, script),
      { ...DEMO_CHILD_ENV, ...env },
      (line, stream) => process.stdout.write(`${this.formatter.format(name, index, line, stream)}\n`),
      (exited, code, signal) => this.onChildExit(exited, code, signal),
    );
    this.children.push(child);
    return child;
  }

  private onChildExit(child: DemoChild, code: number | null, signal: NodeJS.Signals | null): void {
    if (child.stopping || this.stopping !== undefined) return;
    say(`\n${child.name} exited unexpectedly (${signal ?? `code ${String(code)}`}); stopping the demo.`);
    if (!this.started) say(PORT_HINT);
    void this.stop().then(() => process.exit(1));
  }

  private printBanner(gatewayPort: number, lookasidePort: number, lookasideMetricsPort: number): void {
    const file = relative(process.cwd(), this.config.endpointsFile) || this.config.endpointsFile;
    const gateway = `http://localhost:${gatewayPort}`;
    say(
      [
        '',
        '  The demo is running: 3 greet servers, the lookaside, and the gateway.',
        '',
        ...(this.config.canaryPercent === undefined
          ? []
          : [`  Canary: greetserver-v2 takes ${this.config.canaryPercent}% of the calls (the GRPCRoute in ${file}); answers say version(v1) or version(v2).`, '']),
        '  Try it (each answer names a different pod):',
        `    curl -s -X POST ${gateway}/greet -H 'content-type: application/json' -d '{"first_name":"Ada","last_name":"Lovelace"}'`,
        '',
        `  The gateway balances with BALANCING=${this.config.balancing}${BANNER_MODE_NOTES[this.config.balancing]}.`,
        `  Edit ${file} (remove or add an endpoint) and the rotation changes live.`,
        `  Resolve by hand:  buf curl --protocol grpc --http2-prior-knowledge -d '{"service":"greetserver"}' http://localhost:${lookasidePort}/lookaside.v1.Lookaside/Resolve`,
        `  Gateway: ${gateway}/readyz  ${gateway}/metrics   Lookaside metrics: http://localhost:${lookasideMetricsPort}/metrics`,
        `  What the lookaside knows of each pod (outstanding calls, failures, ejection, weight):`,
        `    curl -s 'http://localhost:${lookasideMetricsPort}/debug/endpoints?service=greetserver'`,
        `  The lookaside's xDS clients (the gateway, with BALANCING=xds):  curl -s http://localhost:${lookasideMetricsPort}/debug/xds`,
        '',
        '  Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  }
}

const BANNER_MODE_NOTES: Readonly<Record<BalancingMode, string>> = {
  lookaside: ' (a Resolve per request)',
  xds: ' (grpc-js-xds, the lookaside as its xDS control plane)',
  round_robin: " (grpc-js's own, over the three addresses: the endpoints file plays no part)",
  none: ' (one channel: every request sticks to one pod)',
};

/** What the gateway needs for each mode, beyond the lookaside's address and the Service. */
function modeEnv(balancing: BalancingMode, addresses: readonly string[]): Record<string, string> {
  switch (balancing) {
    case 'lookaside':
      return { BALANCING: balancing };
    case 'xds':
      // The Listener of the servers' port (they share it in the file, as pods share a target port).
      return { BALANCING: balancing, GRPC_SERVER_PORT: addresses[0]?.split(':')[1] ?? '', POD_NAME: 'demo-gateway' };
    default:
      return { BALANCING: balancing, GRPC_TARGET: `ipv4:${addresses.join(',')}` };
  }
}

async function waitUntilReady(port: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.status, () => 0);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`the gateway was not ready within ${START_TIMEOUT_MS} ms (GET /readyz: ${status})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface DemoServer {
  readonly name: string;
  readonly address: string;
}

/**
 * The demo's endpoints file: `greetserver` on every server; with a canary,
 * also `greetserver-v1` (the three) and `greetserver-v2` (the fourth), and a
 * GRPCRoute on `greetserver` splitting calls between them.
 */
async function writeEndpointsFile(path: string, servers: readonly DemoServer[], canary?: { v2: DemoServer; percent: number }): Promise<void> {
  const entries = (list: readonly DemoServer[]): string[] => list.map((server) => `      - { address: "${server.address}", pod: ${server.name} }`);
  const routed =
    canary === undefined
      ? []
      : [
          '  - name: greetserver-v1',
          '    namespace: default',
          '    endpoints:',
          ...entries(servers),
          '  - name: greetserver-v2',
          '    namespace: default',
          '    endpoints:',
          ...entries([canary.v2]),
          '# The canary (make demo CANARY=<percent>): change the weights and save.',
          'routes:',
          '  - name: greetserver-canary',
          '    parentRefs: [ { name: greetserver } ]',
          '    rules:',
          '      - backendRefs:',
          `          - { name: greetserver-v1, weight: ${100 - canary.percent} }`,
          `          - { name: greetserver-v2, weight: ${canary.percent} }`,
        ];
  const text = [
    '# Written by `make demo` at start-up. Edit it while the demo runs: the lookaside',
    '# reloads it on save. Set `ready: false` on an endpoint, or delete its line, to',
    '# take it out of the rotation; add a line to put one in.',
    'services:',
    '  - name: greetserver',
    '    namespace: default',
    '    endpoints:',
    ...entries(canary === undefined ? servers : [...servers, canary.v2]),
    ...routed,
    '',
  ].join('\n');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function main(): Promise<void> {
  let config: DemoConfig;
  try {
    config = loadDemoConfig(process.env);
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const demo = new Demo(config);
  process.on('exit', () => demo.killAll());
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      say(`\n${signal} again: killing everything now.`);
      demo.killAll();
      process.exit(1);
    }
    signalled = true;
    say(`\n${signal}: stopping the demo…`);
    void demo.stop().then(() => {
      say('All stopped.');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  try {
    await demo.start();
  } catch (error) {
    // A signal, or a child that died and already stopped the demo, has its own way out.
    if (signalled || demo.isStopping) return;
    say(`\nThe demo could not start: ${(error as Error).message}`);
    say(PORT_HINT);
    await demo.stop();
    process.exit(1);
  }
}

void main();
