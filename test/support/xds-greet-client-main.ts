import { createInterface } from 'node:readline';

import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import xds from '@grpc/grpc-js-xds';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';
import { GREET_PROTO_FILES, GREET_SERVICE, type GreetResponse } from '../../src/greet/api.js';

/**
 * A stock grpc-js-xds client of GreetService, run as its own process (the xDS
 * client and its bootstrap are per process): XDS_TARGET names the target,
 * GRPC_XDS_BOOTSTRAP_CONFIG the lookaside. Each stdin line `{"calls": N}`
 * makes N Greet calls one after another and prints one JSON line: the count
 * of answers per pod and of errors per message.
 */

interface GreetClient extends Client {
  Greet(
    request: { first_name: string; last_name: string },
    options: { deadline: number },
    callback: (error: ServiceError | null, response?: GreetResponse) => void,
  ): void;
}

xds.register();
const target = process.env['XDS_TARGET'] ?? '';
const Greet = serviceConstructor(loadProtos(GREET_PROTO_FILES).grpcObject, GREET_SERVICE);
const client = new Greet(target, credentials.createInsecure()) as unknown as GreetClient;

function greet(deadlineMs: number): Promise<{ pod: string } | { error: string }> {
  return new Promise((resolve) => {
    client.Greet({ first_name: 'x', last_name: 'ds' }, { deadline: Date.now() + deadlineMs }, (error, response) => {
      resolve(error === null ? { pod: response?.pod_name ?? '' } : { error: `${error.code} ${error.details}` });
    });
  });
}

async function run(calls: number, deadlineMs: number): Promise<void> {
  const pods: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const order: string[] = [];
  const startedAtMs = Date.now();
  for (let i = 0; i < calls; i++) {
    const answer = await greet(deadlineMs);
    if ('pod' in answer) pods[answer.pod] = (pods[answer.pod] ?? 0) + 1;
    else errors[answer.error] = (errors[answer.error] ?? 0) + 1;
    order.push(`${Date.now() - startedAtMs}:${'pod' in answer ? answer.pod : 'error'}`);
  }
  process.stdout.write(`${JSON.stringify({ pods, errors, order })}\n`);
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  const command = JSON.parse(line) as { calls: number; deadlineMs?: number };
  queue = queue.then(() => run(command.calls, command.deadlineMs ?? 5_000));
});
lines.on('close', () => {
  void queue.then(() => {
    client.close();
    process.exit(0);
  });
});
process.stdout.write(`${JSON.stringify({ msg: 'ready', target })}\n`);
