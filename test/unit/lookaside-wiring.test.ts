import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';
import { loadLookasideConfig } from '../../src/lookaside/config.js';
import { createLookaside, type Lookaside } from '../../src/lookaside/lookaside.js';

/** createLookaside is the wiring main.ts runs: built here from a config, in process, on port 0. */
describe('createLookaside (the program as main.ts wires it, in process)', () => {
  let directory: string;
  let lookaside: Lookaside | undefined;
  let channel: Client | undefined;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'lookaside-wiring-'));
  });

  afterEach(async () => {
    channel?.close();
    await lookaside?.stop();
    lookaside = undefined;
    await rm(directory, { recursive: true, force: true });
  });

  it('serves Resolve from its endpoints file on the bound port, with metrics on theirs, and stops', async () => {
    const file = join(directory, 'endpoints.yaml');
    await writeFile(file, 'services:\n  - name: greet\n    endpoints:\n      - { address: "10.0.0.1:50051", pod: greet-1 }\n');
    const config = loadLookasideConfig({ ENDPOINTS_FILE: file, LB_HOST: '127.0.0.1', LB_PORT: '0', METRICS_PORT: '0', SHUTDOWN_GRACE_SECONDS: '1' });
    lookaside = await createLookaside(config, pino({ level: 'silent' }));
    assert.notEqual(lookaside.port, 0);

    const method = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service['Resolve'];
    assert.ok(method !== undefined);
    channel = new Client(`127.0.0.1:${lookaside.port}`, credentials.createInsecure());
    const answer = await new Promise<{ address: string; pod_name: string }>((resolve, reject) =>
      channel?.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { service: 'greet' }, (error: ServiceError | null, value?: unknown) =>
        error === null ? resolve(value as { address: string; pod_name: string }) : reject(error),
      ),
    );
    assert.deepEqual({ address: answer.address, pod: answer.pod_name }, { address: '10.0.0.1:50051', pod: 'greet-1' });

    const response = await fetch(`http://127.0.0.1:${lookaside.metricsPort}/metrics`);
    const page = await response.text();
    assert.equal(response.status, 200, page);
    assert.match(page, /^lookaside_watched_services\{app="lookaside"\} 1$/m);

    // The gRPC health over HTTP, for probes of a gRPC port on TLS.
    const health = await fetch(`http://127.0.0.1:${lookaside.metricsPort}/healthz`);
    assert.deepEqual([health.status, await health.json()], [200, { status: 'SERVING' }]);
  });
});
