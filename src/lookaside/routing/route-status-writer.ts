import type { Logger } from '../../common/logging.js';
import type { ApiTransport } from '../discovery/api-transport.js';
import { ApiError } from '../discovery/kubernetes-api.js';
import { readAll, refused } from '../discovery/list-watch-transport.js';
import type { DiscoverySource, ServiceKey } from '../discovery/types.js';
import { routesPath, type RouteObject } from './route-objects.js';
import { desiredStatusParents } from './route-status.js';

/** How often the status of every watched route is checked again (a backend Service created or deleted since). */
export const STATUS_RECHECK_MS = 10_000;
const PATCH_TIMEOUT_MS = 10_000;
/** How long a backend's existence may take to learn before its route's status waits for the next check. */
const EXISTENCE_TIMEOUT_MS = 10_000;

/** Writes a route's `status.parents` (a JSON merge patch of grpcroutes/status, conditional on its resourceVersion). */
export type StatusPatcher = (namespace: string, name: string, body: string) => Promise<void>;

export interface RouteStatusWriterOptions {
  readonly patch: StatusPatcher;
  /** Whether a Service has EndpointSlices; undefined when it cannot be told now. */
  readonly serviceExists: (service: ServiceKey) => Promise<boolean | undefined>;
  readonly logger: Logger;
  /** Milliseconds since the epoch, for lastTransitionTime. */
  readonly now?: () => number;
  readonly recheckMs?: number;
}

/**
 * Keeps the lookaside's entries of GRPCRoute status.parents true: after every
 * change of a namespace's routes, and every STATUS_RECHECK_MS, each route
 * whose status says something else is patched. A conflict (the route changed
 * meanwhile) is dropped: the watch brings the new version, which is checked
 * in turn.
 */
export class RouteStatusWriter {
  private readonly latest = new Map<string, readonly RouteObject[]>();
  private readonly writing = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: RouteStatusWriterOptions) {
    this.timer = setInterval(() => {
      for (const namespace of this.latest.keys()) this.schedule(namespace);
    }, options.recheckMs ?? STATUS_RECHECK_MS);
    this.timer.unref();
  }

  /** The routes of `namespace` now (called on every change). */
  onRoutes(namespace: string, objects: readonly RouteObject[]): void {
    this.latest.set(namespace, objects);
    this.schedule(namespace);
  }

  /** Resolves once no write is under way (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.writing.size > 0) await Promise.all(this.writing.values());
  }

  close(): void {
    clearInterval(this.timer);
    this.latest.clear();
  }

  /** One write pass per namespace at a time; a change during a pass runs one more. */
  private schedule(namespace: string): void {
    if (this.writing.has(namespace)) {
      this.again.add(namespace);
      return;
    }
    const pass = this.write(namespace).finally(() => {
      this.writing.delete(namespace);
      if (this.again.delete(namespace)) this.schedule(namespace);
    });
    this.writing.set(namespace, pass);
  }

  private async write(namespace: string): Promise<void> {
    const objects = this.latest.get(namespace) ?? [];
    const backends = new Set(objects.flatMap((object) => object.route?.rules.flatMap((rule) => rule.backends.map((backend) => backend.name)) ?? []));
    const existence = new Map<string, boolean | undefined>();
    await Promise.all([...backends].map(async (name) => existence.set(name, await this.options.serviceExists({ namespace, name }))));
    const nowIso = new Date((this.options.now ?? Date.now)()).toISOString();
    for (const object of objects) {
      const parents = desiredStatusParents(object, (name) => existence.get(name), nowIso);
      if (parents === undefined) continue;
      const body = JSON.stringify({ metadata: { resourceVersion: object.resourceVersion }, status: { parents } });
      try {
        await this.options.patch(namespace, object.name, body);
        this.options.logger.info({ namespace, route: object.name }, 'GRPCRoute status written');
      } catch (error) {
        if (error instanceof ApiError && error.code === 409) continue;
        this.options.logger.warn({ namespace, route: object.name, err: (error as Error).message }, 'cannot write GRPCRoute status; trying again later');
      }
    }
  }
}

/** Patches grpcroutes/status over the lookaside's transport. */
export function transportStatusPatcher(transport: ApiTransport): StatusPatcher {
  return async (namespace, name, body) => {
    if (transport.patch === undefined) throw new Error('the API transport cannot PATCH');
    const answer = await transport.patch(`${routesPath(namespace)}/${encodeURIComponent(name)}/status`, body, 'application/merge-patch+json', AbortSignal.timeout(PATCH_TIMEOUT_MS));
    const text = await readAll(answer.body, 1_048_576);
    if (answer.status !== 200) throw refused(transport, answer.status, text, 'patch', 'grpcroutes/status');
  };
}

/** Whether a Service has EndpointSlices, asked of discovery (from memory once its namespace is listed). */
export function sourceServiceExists(source: DiscoverySource): (service: ServiceKey) => Promise<boolean | undefined> {
  return (service) =>
    new Promise((resolve) => {
      let subscription: { stop(): void } | undefined;
      const finish = (answer: boolean | undefined): void => {
        clearTimeout(timer);
        subscription?.stop();
        resolve(answer);
      };
      const timer = setTimeout(() => finish(undefined), EXISTENCE_TIMEOUT_MS);
      timer.unref();
      subscription = source.follow(
        service,
        (state) => {
          if (state.kind === 'synced') finish(state.snapshot.sliceCount > 0);
          else if (state.kind === 'failed') finish(undefined);
        },
        { endIfMissing: true },
      );
    });
}
