import assert from 'node:assert/strict';

import { Client, credentials, type ClientDuplexStream, type MethodDefinition, type StatusObject } from '@grpc/grpc-js';
import { Registry } from 'prom-client';

import { GrpcServerMetrics } from '../../src/common/grpc-metrics.js';
import { GrpcFront } from '../../src/common/grpc-front.js';
import { CONNECTION_TIMES, type ConnectionTimes } from '../../src/common/grpc-front-connection.js';
import { listenWithLimits, type GrpcListener } from '../../src/common/grpc-listener.js';
import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';
import { silentLogger } from '../../src/common/logging.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from '../../src/lookaside/config.js';
import { LookasideMetrics } from '../../src/lookaside/metrics.js';
import type { ResolveOutcome, ResolveQuery, Resolver } from '../../src/lookaside/resolver.js';
import { createLookasideServer, type LookasideServer } from '../../src/lookaside/server.js';

/** ResolveStreamResponse as the tests decode it. */
export interface StreamAnswer {
  response: { address: string } | null;
  code: number;
  message: string;
  reason: string;
}

/**
 * A resolver that answers `svc-N` with `10.0.0.N:80` at once (anything else
 * NOT_FOUND), except for the Services put on hold, whose first Resolve waits
 * until the test releases it.
 */
export class FakeResolver {
  readonly waiting = new Map<string, () => void>();
  readonly asked: string[] = [];
  private readonly held = new Set<string>();

  constructor(private readonly metrics: LookasideMetrics) {}

  hold(service: string): void {
    this.held.add(service);
  }

  resolve(query: ResolveQuery): ResolveOutcome | Promise<ResolveOutcome> {
    this.asked.push(query.service);
    const resolveCounts = this.metrics.resolveCounts('default', query.service);
    const base = { namespace: 'default', service: query.service, policy: 'round_robin' as const, resolveCounts };
    const number = /^svc-(\d+)$/.exec(query.service)?.[1];
    const outcome: ResolveOutcome =
      number === undefined
        ? { ...base, ok: false, reason: 'not-found', message: `no Service ${query.service}` }
        : ({
            ...base,
            ok: true,
            endpoint: { address: `10.0.0.${number}:80`, ip: `10.0.0.${number}`, port: 80, podName: '', zone: '', nodeName: '' },
            readyEndpoints: 1,
          } as ResolveOutcome);
    if (!this.held.has(query.service)) return outcome;
    this.held.delete(query.service);
    return new Promise((resolve) => this.waiting.set(query.service, () => resolve(outcome)));
  }
}

export interface HarnessOptions {
  readonly limits?: Partial<ServerLimits>;
  readonly connectionTimes?: Partial<ConnectionTimes>;
  readonly maxUnansweredPerStream?: number;
}

/** createLookasideServer behind a GrpcFront on a loopback port 0, with a fake resolver, a fresh registry and a manual clock. */
export class LookasideHarness {
  readonly registry = new Registry();
  private readonly lookasideMetrics = new LookasideMetrics(this.registry);
  readonly resolver = new FakeResolver(this.lookasideMetrics);
  readonly clock = { nowMs: 1_000_000 };
  /** The limits that refused something, in order. */
  readonly refused: string[] = [];
  readonly lookaside: LookasideServer;
  /** The HTTP/2 front every connection goes through, as in lookaside.ts. */
  readonly front: GrpcFront;
  port = 0;
  /** A grpc-js client of the server, once it listens. */
  channel!: Client;
  private listener: GrpcListener | undefined;
  private readonly methods = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service;

  constructor(options: HarnessOptions = {}) {
    this.lookaside = createLookasideServer({
      resolver: this.resolver as unknown as Resolver,
      metrics: this.lookasideMetrics,
      grpcMetrics: new GrpcServerMetrics(this.registry),
      logger: silentLogger(),
      limits: { ...DEFAULT_SERVER_LIMITS, ...options.limits },
      now: () => this.clock.nowMs,
      onRefused: (limit) => this.refused.push(limit),
      ...(options.maxUnansweredPerStream === undefined ? {} : { maxUnansweredPerStream: options.maxUnansweredPerStream }),
    });
    this.front = new GrpcFront({
      server: this.lookaside.server,
      routes: this.lookaside.routes,
      times: { ...CONNECTION_TIMES, ...options.connectionTimes },
      maxStreamsPerConnection: options.limits?.maxStreamsPerConnection ?? DEFAULT_SERVER_LIMITS.maxStreamsPerConnection,
      logger: silentLogger(),
    });
  }

  static async start(options: HarnessOptions = {}): Promise<LookasideHarness> {
    const harness = new LookasideHarness(options);
    harness.listener = await listenWithLimits(harness.front, { host: '127.0.0.1', port: 0, maxConnections: 10_000 });
    harness.port = harness.listener.port;
    harness.channel = new Client(harness.target, credentials.createInsecure());
    return harness;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  method(name: 'Resolve' | 'ResolveStream'): MethodDefinition<unknown, unknown> {
    const method = this.methods[name];
    if (method === undefined) throw new Error(`no ${name}`);
    return method as MethodDefinition<unknown, unknown>;
  }

  /** Opens a ResolveStream whose requests are raw bytes (so a test can send garbage) or request objects. */
  openStream(channel: Client = this.channel): OpenStream {
    const method = this.method('ResolveStream');
    const call = channel.makeBidiStreamRequest(method.path, (bytes: Buffer) => bytes, method.responseDeserialize as (bytes: Buffer) => StreamAnswer);
    const answers: StreamAnswer[] = [];
    call.on('data', (answer: StreamAnswer) => answers.push(answer));
    call.on('error', () => undefined);
    const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    return { call, answers, status, send: (service) => call.write(method.requestSerialize({ service })) };
  }

  /** The text of the registry, as /metrics would serve it. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  stop(): void {
    this.channel.close();
    this.front.forceShutdown();
    void this.listener?.close();
  }
}

export interface OpenStream {
  readonly call: ClientDuplexStream<Buffer, StreamAnswer>;
  readonly answers: StreamAnswer[];
  readonly status: Promise<StatusObject>;
  send(service: string): void;
}

/** Polls `condition` every 10 ms for up to 10 s (generous: the machine is shared). */
export async function until(condition: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  for (let i = 0; i < 1_000; i += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(await condition(), `${what} never met`);
}
