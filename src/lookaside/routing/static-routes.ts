import type { GrpcRoute } from './grpc-route.js';
import type { RouteSource } from './route-source.js';
import { RouteTable } from './route-table.js';

/** Routes held in memory and replaced whole (the endpoints file's `routes`): every namespace is always known. */
export class StaticRoutes implements RouteSource {
  private table: RouteTable;
  private readonly listeners = new Set<(namespace: string | undefined) => void>();

  constructor(routes: readonly GrpcRoute[] = []) {
    this.table = new RouteTable(routes);
  }

  get routes(): readonly GrpcRoute[] {
    return this.table.routes;
  }

  /** Swaps every route at once: a call sees the old table or the new one, never a mix. */
  replace(routes: readonly GrpcRoute[]): void {
    this.table = new RouteTable(routes);
    for (const listener of [...this.listeners]) listener(undefined);
  }

  onChange(listener: (namespace: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  routesIn(): RouteTable {
    return this.table;
  }

  async close(): Promise<void> {}
}
