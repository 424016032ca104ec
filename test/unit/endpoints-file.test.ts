import assert from 'node:assert/strict';
import { threadId, type Worker } from 'node:worker_threads';

import { EndpointsFileError, NoServicesError, parseEndpointsFile } from '../../src/lookaside/discovery/endpoints-file.js';
import { parseEndpointsFileOffThread } from '../../src/lookaside/discovery/endpoints-file-thread.js';
import { mergeSlices } from '../../src/lookaside/discovery/slices.js';

const EXAMPLE = `
services:
  - namespace: default
    name: greetserver
    endpoints:
      - { address: "127.0.0.1:50051", pod: greet-0, zone: local-a }
      - { address: "127.0.0.1:50052", pod: greet-1, ready: false }
      - { address: "[::1]:50053", pod: greet-2, node: n1 }
      - { address: "127.0.0.1:50054", pod: greet-3, terminating: true }
  - name: other
    endpoints: []
`;

function parseError(text: string): string {
  assert.throws(() => parseEndpointsFile(text), EndpointsFileError);
  try {
    parseEndpointsFile(text);
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

describe('endpoints file', () => {
  it('reads the documented YAML shape into slices per Service', () => {
    const content = parseEndpointsFile(EXAMPLE);
    assert.deepEqual([...content.keys()], ['default/greetserver', 'default/other']);
    const snapshot = mergeSlices(content.get('default/greetserver') ?? []);
    assert.deepEqual(
      snapshot.readyByPort.get('')?.map((e) => [e.address, e.podName, e.zone, e.nodeName]),
      [
        ['127.0.0.1:50051', 'greet-0', 'local-a', ''],
        ['[::1]:50053', 'greet-2', '', 'n1'],
      ],
    );
    assert.equal(snapshot.notReadyCount, 2);
  });

  it('reads the same shape in JSON', () => {
    const content = parseEndpointsFile(
      JSON.stringify({ services: [{ namespace: 'a', name: 'b', endpoints: [{ address: '10.1.1.1:80', port_name: 'http' }] }] }),
    );
    const snapshot = mergeSlices(content.get('a/b') ?? []);
    assert.deepEqual(snapshot.readyByPort.get('http')?.map((e) => e.address), ['10.1.1.1:80']);
  });

  it('reads `services: []` as no Services', () => {
    assert.equal(parseEndpointsFile('services: []').size, 0);
    assert.equal(parseEndpointsFile('# none for now\nservices: []\n').size, 0);
  });

  it('refuses a file with no services list: empty, only comments, cut off after `services:`, or other keys only', () => {
    const commentOnly = '# Endpoints for running the lookaside without a cluster (DISCOVERY=file).\n# Edit while it runs.\n#\n';
    for (const text of ['', '\n  \n', commentOnly, `${commentOnly}services:\n`, 'service: []']) {
      assert.throws(() => parseEndpointsFile(text), NoServicesError, JSON.stringify(text));
    }
    assert.match(parseError(commentOnly), /no "services" list .*write "services: \[\]" for no Services/);
  });

  it('points at the broken entry', () => {
    assert.match(parseError('services: [ {name: x'), /^not valid YAML or JSON/);
    assert.equal(parseError('services: 3'), 'services: must be a list');
    assert.equal(parseError('- 1'), 'the file: must be a mapping');
    assert.equal(parseError('services: [{endpoints: []}]'), 'services[0].name: is required');
    assert.equal(
      parseError('services: [{name: a, endpoints: [{address: "localhost:80"}]}]'),
      'services[0].endpoints[0].address: "localhost:80" is not "ip:port" (an IPv4 or [IPv6] address and a port from 1 to 65535)',
    );
    assert.match(parseError('services: [{name: a, endpoints: [{address: "1.2.3.4:0"}]}]'), /endpoints\[0\]\.address/);
    assert.match(parseError('services: [{name: a, endpoints: [{address: "1.2.3.4"}]}]'), /endpoints\[0\]\.address/);
    assert.equal(parseError('services: [{name: a, endpoints: [{address: "1.2.3.4:80", ready: "yes"}]}]'), 'services[0].endpoints[0].ready: must be true or false');
    assert.equal(parseError('services: [{name: a, endpoints: [{address: "1.2.3.4:80", pod: 7}]}]'), 'services[0].endpoints[0].pod: must be a string');
    assert.equal(parseError('services: [{name: a}, {name: a, namespace: default}]'), 'services[1]: default/a is listed twice');
  });

  describe('parsed off the event loop', () => {
    it('gives the same content as parsing in place', async () => {
      const content = await parseEndpointsFileOffThread(EXAMPLE);
      const inPlace = parseEndpointsFile(EXAMPLE);
      assert.equal(content.size, inPlace.size);
      for (const [id, slices] of inPlace) {
        assert.ok(content.has(id));
        assert.deepEqual(content.get(id), slices);
      }
      assert.equal(content.has('default/absent'), false);
      assert.equal(content.get('default/absent'), undefined);
    });

    it('gives the same errors as parsing in place', async () => {
      await assert.rejects(parseEndpointsFileOffThread('# only a comment\n'), NoServicesError);
      const broken = 'services: [{name: a, endpoints: [{address: "1.2.3.4:80", ready: "yes"}]}]';
      await assert.rejects(parseEndpointsFileOffThread(broken), (error: unknown) => {
        assert.ok(error instanceof EndpointsFileError && !(error instanceof NoServicesError));
        assert.equal(error.message, parseError(broken));
        return true;
      });
    });

    it('parses in a worker thread while the calling thread keeps running', async () => {
      const workers: Worker[] = [];
      const onWorker = (worker: Worker): void => void workers.push(worker);
      process.on('worker', onWorker);
      try {
        let settled = false;
        const parsed = parseEndpointsFileOffThread(EXAMPLE).finally(() => (settled = true));
        // A parse in place would have settled before this callback could run.
        const turnedBeforeSettled = await new Promise<boolean>((resolve) => setImmediate(() => resolve(!settled)));
        await parsed;
        assert.equal(workers.length, 1);
        assert.notEqual(workers[0]?.threadId, threadId);
        assert.ok(turnedBeforeSettled, 'the event loop turned while the file was parsed');
      } finally {
        process.off('worker', onWorker);
      }
    });
  });
});
