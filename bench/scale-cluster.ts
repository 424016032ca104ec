import { LookasideUnderTest } from '../test/apiserver/lookaside.js';
import { Cluster, endpointSlice, podIp, uniqueName, type EndpointSpec } from '../test/apiserver/objects.js';
import { ApiProxy } from '../test/support/api-proxy.js';
import { ControlPlane, findBinaries } from '../test/support/control-plane.js';
import { inPool } from '../test/support/pool.js';
import { deployedNodeFlags } from './bench-process.js';

export const NAMESPACES = 10;
export const SERVICES_PER_NAMESPACE = 100;
export const ENDPOINTS_PER_SERVICE = 100;
/** The big Service: this many slices of ENDPOINTS_PER_SERVICE. */
const BIG_SLICES = 100;
const VISIBILITY_SAMPLES = 10;

export interface BenchService {
  readonly namespace: string;
  readonly name: string;
  readonly endpoints: number;
}

/** Delays from an API write to Resolve showing it, in ms. */
export interface Delays {
  readonly p50: number;
  readonly max: number;
}

/**
 * A real control plane holding 1,000 Services × 100 endpoints in 10
 * namespaces, a 10,000-endpoint Service and a 3-endpoint one in an 11th, and
 * the built lookaside reaching it through a TLS proxy (HTTP/2, as to the API
 * server itself) that counts LISTs.
 */
export class ScaleCluster {
  private constructor(
    readonly plane: ControlPlane,
    private readonly cluster: Cluster,
    readonly namespaces: readonly string[],
    readonly services: readonly BenchService[],
    private readonly bigNamespace: string,
    readonly proxy: ApiProxy,
    private current: LookasideUnderTest,
    private readonly startLookaside: () => Promise<LookasideUnderTest>,
  ) {}

  get lookaside(): LookasideUnderTest {
    return this.current;
  }

  /** A fresh lookaside process in place of the current one: nothing cached, no connection. */
  async restartLookaside(): Promise<void> {
    await this.current.stop();
    this.current = await this.startLookaside();
  }

  /** @param env added to the lookaside's environment */
  static async start(env: Record<string, string> = {}): Promise<ScaleCluster> {
    const binaries = findBinaries();
    if (typeof binaries === 'string') throw new Error(binaries);
    const plane = await ControlPlane.start({ binaries });
    try {
      const cluster = new Cluster(plane.admin);
      const namespaces = Array.from({ length: NAMESPACES }, (_, n) => uniqueName(`scale-${n}`));
      const bigNamespace = uniqueName('scale-big');
      for (const namespace of [...namespaces, bigNamespace]) await cluster.createNamespace(namespace);
      const services = namespaces.flatMap((namespace) =>
        Array.from({ length: SERVICES_PER_NAMESPACE }, (_, i) => ({ namespace, name: `svc-${i}`, endpoints: ENDPOINTS_PER_SERVICE })),
      );
      const startedMs = Date.now();
      await inPool(services, 16, async (service, index) => {
        await cluster.createService(service.namespace, service.name);
        const block = 100 + Math.floor(index / 100);
        await cluster.createSlice(endpointSlice(service.namespace, service.name, `${service.name}-a`, ready(block, (index % 100) * 100, ENDPOINTS_PER_SERVICE)));
      });
      await cluster.createService(bigNamespace, 'big');
      await inPool(
        Array.from({ length: BIG_SLICES }, (_, s) => s),
        16,
        (s) => cluster.createSlice(endpointSlice(bigNamespace, 'big', `big-${s}`, ready(220 + Math.floor(s / 25), (s % 25) * 100, ENDPOINTS_PER_SERVICE))).then(() => undefined),
      );
      await cluster.createService(bigNamespace, 'small');
      await cluster.createSlice(endpointSlice(bigNamespace, 'small', 'small-a', ready(230, 0, 3)));
      console.log(
        `kube-apiserver ${plane.apiserver.server}: ${services.length} Services × ${ENDPOINTS_PER_SERVICE} endpoints in ${NAMESPACES} namespaces, ` +
          `and ${BIG_SLICES * ENDPOINTS_PER_SERVICE} + 3 endpoints in ${bigNamespace}, written in ${Date.now() - startedMs} ms`,
      );

      const apiserver = plane.apiserver;
      const proxy = await ApiProxy.start(apiserver.server, apiserver.caCertificate(), { tls: apiserver.servingCertificate() });
      const kubeconfig = plane.writeKubeconfig('bench-scale', plane.adminToken, { server: proxy.url, caFile: apiserver.caFile });
      const override = process.env['BENCH_NODE_FLAGS'];
      const nodeArgs = override === undefined ? deployedNodeFlags() : override.split(' ').filter((flag) => flag !== '');
      const startLookaside = (): Promise<LookasideUnderTest> =>
        LookasideUnderTest.start(kubeconfig, { REFRESH_INTERVAL_SECONDS: '60', MAX_SERVICES: '2000', ...env }, nodeArgs);
      const how = override === undefined ? "as the image runs it under deploy/base's memory limit" : 'with BENCH_NODE_FLAGS';
      console.log(`lookaside started ${how}: node ${[...nodeArgs, 'dist/src/lookaside/main.js'].join(' ')}`);
      return new ScaleCluster(plane, cluster, [...namespaces, bigNamespace], services, bigNamespace, proxy, await startLookaside(), startLookaside);
    } catch (error) {
      await plane.stop();
      throw error;
    }
  }

  /**
   * One endpoint of one slice goes unready, then ready again, VISIBILITY_SAMPLES
   * times, on the 10,000-endpoint Service and on the 3-endpoint one in turn.
   */
  async visibility(): Promise<{ big: Delays; small: Delays }> {
    const delays = { big: [] as number[], small: [] as number[] };
    const targets = [
      { key: 'big' as const, slice: 'big-42', total: BIG_SLICES * ENDPOINTS_PER_SERVICE },
      { key: 'small' as const, slice: 'small-a', total: 3 },
    ];
    for (const { key, total } of targets) await this.readyCountOf(key, total, Date.now());
    for (let i = 0; i < 2 * VISIBILITY_SAMPLES; i++) {
      for (const { key, slice, total } of targets) {
        const ready = i % 2 === 1;
        const sinceMs = Date.now();
        await this.cluster.patchEndpoint(this.bigNamespace, slice, 0, { ready });
        delays[key].push(await this.readyCountOf(key, ready ? total : total - 1, sinceMs));
      }
    }
    return { big: summary(delays.big), small: summary(delays.small) };
  }

  async stop(): Promise<void> {
    await this.lookaside.stop();
    await this.proxy.close();
    await this.plane.stop();
  }

  /** Polls Resolve until the Service has `count` ready endpoints; the delay since `sinceMs`. */
  private async readyCountOf(service: string, count: number, sinceMs: number): Promise<number> {
    for (;;) {
      const answer = await this.lookaside.resolve(this.bigNamespace, service);
      if (answer.ok && answer.readyEndpoints === count) return Date.now() - sinceMs;
      if (Date.now() - sinceMs > 30_000) throw new Error(`${service} did not show ${count} ready endpoints within 30 s`);
    }
  }
}

/** The node flags deploy/base gives the lookaside's container (its args before the script). */

function ready(block: number, from: number, count: number): EndpointSpec[] {
  return Array.from({ length: count }, (_, i) => ({ ip: podIp(block, from + i), ready: true }));
}

function summary(samples: readonly number[]): Delays {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted.at(-1) ?? 0 };
}

