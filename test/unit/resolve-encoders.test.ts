import assert from 'node:assert/strict';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';
import type { ResolveResponse__Output } from '../../src/generated/lookaside/v1/ResolveResponse.js';
import { encodeResolveResponse, encodeSeedResponse, encodeStreamAnswer } from '../../src/lookaside/resolve-encoders.js';
import type { StreamAnswer } from '../../src/lookaside/resolve-stream.js';

const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto', 'lookaside/lookaside.proto']);
const v1 = serviceConstructor(grpcObject, 'lookaside.v1.Lookaside').service;
const seed = serviceConstructor(grpcObject, 'lookaside.Lookaside').service;

const EMPTY: ResolveResponse__Output = { address: '', ip: '', port: 0, pod_name: '', zone: '', node_name: '', ready_endpoints: 0 };
const RESPONSES: ResolveResponse__Output[] = [
  { address: '10.1.0.1:50051', ip: '10.1.0.1', port: 50051, pod_name: 'greetserver-0', zone: 'bench-a', node_name: 'node-1', ready_endpoints: 3 },
  EMPTY,
  { address: '[fd00::1]:80', ip: 'fd00::1', port: 80, pod_name: '', zone: 'zone-ü', node_name: 'n'.repeat(300), ready_endpoints: 0 },
  { address: 'a', ip: '', port: 65_535, pod_name: 'p'.repeat(127), zone: 'z'.repeat(128), node_name: '', ready_endpoints: 2 ** 32 - 1 },
];

describe('hand-written Resolve encoders', () => {
  it('encode every ResolveResponse into what proto-loader decodes back to the same object as its own encoding', () => {
    const { responseSerialize, responseDeserialize } = v1['Resolve'] ?? assert.fail('no Resolve');
    for (const response of RESPONSES) {
      const ours = responseDeserialize(encodeResolveResponse(response));
      assert.deepEqual(ours, responseDeserialize(responseSerialize(response)));
      assert.deepEqual(ours, response);
    }
  });

  it('encode every ResolveStreamResponse, answer or error, the same way', () => {
    const { responseSerialize, responseDeserialize } = v1['ResolveStream'] ?? assert.fail('no ResolveStream');
    const answers: StreamAnswer<ResolveResponse__Output>[] = [
      ...RESPONSES.map((response) => ({ response, code: 0, message: '', reason: '' })),
      { response: null, code: 5, message: 'no Service missing in namespace default', reason: 'SERVICE_NOT_FOUND' },
      { response: null, code: 3, message: `bad name ${'ä'.repeat(100)}`, reason: 'INVALID_REQUEST' },
      { response: null, code: 0, message: '', reason: '' },
    ];
    for (const answer of answers) {
      const ours = responseDeserialize(encodeStreamAnswer(answer));
      assert.deepEqual(ours, responseDeserialize(responseSerialize(answer)));
      assert.deepEqual(ours, answer);
    }
  });

  it('encode the seed API’s Response the same way', () => {
    const { responseSerialize, responseDeserialize } = seed['Resolve'] ?? assert.fail('no Resolve');
    for (const address of ['10.1.0.1', '', 'x'.repeat(200)]) {
      assert.deepEqual(responseDeserialize(encodeSeedResponse({ address })), responseDeserialize(responseSerialize({ address })));
    }
  });
});
