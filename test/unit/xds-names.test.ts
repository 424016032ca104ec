import assert from 'node:assert/strict';

import { parseXdsName, type ParsedName } from '../../src/lookaside/xds/xds-names.js';

const EVERY_NAMESPACE = new Set<string>();

function target(parsed: ParsedName): { namespace: string; service: string; port: unknown; canonical: string } {
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problem);
  return { namespace: parsed.target.key.namespace, service: parsed.target.key.name, port: parsed.target.port, canonical: parsed.target.canonical };
}

function problem(parsed: ParsedName): string {
  assert.ok(!parsed.ok, `expected a refusal, got ${JSON.stringify(parsed)}`);
  return parsed.problem;
}

describe('xDS resource names', () => {
  it('reads <service>.<namespace>[.svc[.cluster.local]]:<port> and gives every spelling one canonical name', () => {
    const spellings = ['greet.prod:50051', 'greet.prod.svc:50051', 'greet.prod.svc.cluster.local:50051'];
    for (const name of spellings) {
      assert.deepEqual(target(parseXdsName(name, EVERY_NAMESPACE)), {
        namespace: 'prod',
        service: 'greet',
        port: { kind: 'number', number: 50051 },
        canonical: 'greet.prod.svc.cluster.local:50051',
      });
    }
  });

  it('takes a port name when the port is not a number', () => {
    const parsed = target(parseXdsName('greet.prod:grpc', EVERY_NAMESPACE));
    assert.deepEqual(parsed.port, { kind: 'name', name: 'grpc' });
    assert.equal(parsed.canonical, 'greet.prod.svc.cluster.local:grpc');
  });

  it('refuses names that cannot be a Service port, saying the expected shape', () => {
    assert.match(problem(parseXdsName('greet.prod', EVERY_NAMESPACE)), /has no port/);
    assert.match(problem(parseXdsName('greet:50051', EVERY_NAMESPACE)), /is not <service>\.<namespace>/);
    assert.match(problem(parseXdsName('greet.prod.svc.other.domain:50051', EVERY_NAMESPACE)), /is not <service>\.<namespace>/);
    assert.match(problem(parseXdsName('Greet.prod:50051', EVERY_NAMESPACE)), /RFC 1123/);
    assert.match(problem(parseXdsName('greet.prod:0', EVERY_NAMESPACE)), /port must be/);
    assert.match(problem(parseXdsName('greet.prod:65536', EVERY_NAMESPACE)), /port must be/);
    assert.match(problem(parseXdsName('greet.prod:Not_A_Name', EVERY_NAMESPACE)), /port must be/);
    assert.match(problem(parseXdsName('', EVERY_NAMESPACE)), /has no port/);
  });

  it('serves only ALLOWED_NAMESPACES when that list is set', () => {
    const allowed = new Set(['prod']);
    assert.ok(parseXdsName('greet.prod:50051', allowed).ok);
    assert.match(problem(parseXdsName('greet.staging:50051', allowed)), /namespace "staging" is not served by this lookaside \(ALLOWED_NAMESPACES\)/);
  });
});
