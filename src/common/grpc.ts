import { fileURLToPath } from 'node:url';

import {
  loadPackageDefinition,
  ServerCredentials,
  type GrpcObject,
  type Deadline,
  type Server,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';

import { joinHostPort } from './addresses.js';
import { withDependencies } from './reflection-files.js';

/** The repository's proto/ directory, found from this file's place in dist/src/common/. */
export const PROTO_ROOT = fileURLToPath(new URL('../../../proto/', import.meta.url));

/** Our copy of the standard health proto, for reflection; grpc-health-check serves the calls. */
const HEALTH_PROTO_FILE = 'grpc/health/v1/health.proto';

/**
 * proto-loader options used everywhere: field names as written in the proto,
 * enums as their names, defaults filled in so handlers never see undefined.
 */
const LOADER_OPTIONS: Options = {
  keepCase: true,
  enums: String,
  longs: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export interface LoadedProtos {
  readonly packageDefinition: PackageDefinition;
  readonly grpcObject: GrpcObject;
}

/** Loads proto files (paths relative to proto/) plus the health proto, for serving and reflection. */
export function loadProtos(files: readonly string[]): LoadedProtos {
  const packageDefinition = loadSync([...files, HEALTH_PROTO_FILE], LOADER_OPTIONS);
  return { packageDefinition, grpcObject: loadPackageDefinition(packageDefinition) };
}

/** Finds a service constructor such as `lookaside.v1.Lookaside` in a loaded package. */
export function serviceConstructor(grpcObject: GrpcObject, fullName: string): ServiceClientConstructor {
  let node: unknown = grpcObject;
  for (const part of fullName.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function' || !('service' in node)) throw new Error(`no service ${fullName} in the loaded protos`);
  return node as ServiceClientConstructor;
}

/**
 * Adds server reflection (v1 and v1alpha) for everything in the package
 * definition, each file listing the files it depends on (see
 * reflection-files.ts). ReflectionService decodes every file descriptor of
 * every type it is given, and each type carries its whole file set, so it is
 * handed each file once (the envoy protos: 0.1 s instead of 1 s at start-up).
 */
export function addReflection(server: Server, packageDefinition: PackageDefinition): void {
  const files = new Set<Buffer>();
  for (const definition of Object.values(packageDefinition)) {
    for (const file of (definition as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? []) files.add(file);
  }
  // ReflectionService reads only `fileDescriptorProtos` from the definitions it is given.
  const linked = { files: { fileDescriptorProtos: withDependencies([...files]) } } as unknown as PackageDefinition;
  new ReflectionService(linked).addToServer(server);
}

/**
 * The standard grpc.health.v1 service. Every listed service (and "" for the
 * whole server) starts NOT_SERVING until `setAll('SERVING')`.
 */
export class HealthReporter {
  private readonly health: HealthImplementation;
  private current: ServingStatus = 'NOT_SERVING';

  constructor(private readonly services: readonly string[]) {
    this.health = new HealthImplementation(
      Object.fromEntries(['', ...services].map((name) => [name, 'NOT_SERVING' as ServingStatus])),
    );
  }

  addToServer(server: Server): void {
    this.health.addToServer(server);
  }

  /** What setAll() last set: the whole server's status. */
  get status(): ServingStatus {
    return this.current;
  }

  setAll(status: ServingStatus): void {
    this.current = status;
    for (const name of ['', ...this.services]) this.health.setStatus(name, status);
  }
}

/** Binds `host:port` (0 = any free port) and returns the bound port. */
export function bindServer(server: Server, host: string, port: number): Promise<number> {
  const target = joinHostPort(host, port);
  return new Promise((resolve, reject) => {
    server.bindAsync(target, ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error) reject(new Error(`cannot listen on ${target}: ${error.message}`));
      else resolve(boundPort);
    });
  });
}

/** Milliseconds left before the call's deadline; Infinity when it has none. */
export function remainingMs(call: { getDeadline(): Deadline }): number {
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(deadlineMs) ? deadlineMs - Date.now() : Number.POSITIVE_INFINITY;
}

/** What shutdownServer stops: a grpc-js Server, or the GrpcFront before one. */
export interface StoppableServer {
  /** Refuses new calls; `callback` once those in flight are done. */
  tryShutdown(callback: () => void): void;
  /** Cancels every call at once. */
  forceShutdown(): void;
}

/**
 * Stops a server gracefully: no new calls, in-flight calls may finish, and
 * after `graceMs` whatever is left is cancelled. `whileDraining` runs once new
 * calls are refused, to end long-lived streams the server owns.
 */
export function shutdownServer(
  server: StoppableServer,
  graceMs: number,
  whileDraining?: () => Promise<void>,
): Promise<'drained' | 'forced'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve('forced');
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve('drained');
    });
    void whileDraining?.();
  });
}
