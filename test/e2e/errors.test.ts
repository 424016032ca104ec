import { strict as assert } from 'node:assert';

import { grpcFrame, RawGrpcClient } from '../support/raw-grpc.js';
import { GREET_READY, OWN_NAMESPACE, STANDARD_ENV, STANDARD_SERVICES } from './support/fixtures.js';
import { callMany, ProcessGroup, type CallError, type RunningLookaside } from './support/lookaside.js';

/** An error message that echoes a huge input back in full would flood clients' logs. */
const MAX_MESSAGE_LENGTH = 1_000;

/** Names that are not RFC 1123 labels, each with what makes it so. */
const MALFORMED_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['upper case', 'Greet'],
  ['64 characters', 'a'.repeat(64)],
  ['an underscore', 'greet_server'],
  ['a dot', 'greet.team-a'],
  ['a leading hyphen', '-greet'],
  ['a trailing hyphen', 'greet-'],
  ['spaces', ' greet '],
  ['a newline', 'greet\n'],
  ['a NUL character', 'greet\u0000'],
  ['accented letters', 'grüße'],
  ['an emoji', '🚀-greet'],
  ['CJK characters', '挨拶'],
  ['10 KB', 'g'.repeat(10_240)],
];

function assertError(error: CallError, code: string, ...fragments: string[]): void {
  assert.equal(error.code, code, `code of: ${error.message}`);
  for (const fragment of fragments) assert.ok(error.message.includes(fragment), `"${fragment}" in: ${error.message}`);
  assert.ok(error.message.length < MAX_MESSAGE_LENGTH, `message of ${error.message.length} characters`);
}

async function assertStillServes(lookaside: RunningLookaside): Promise<void> {
  assert.ok(lookaside.alive, 'the process is still running');
  const answer = await lookaside.resolve({ service: 'greet' });
  assert.ok(GREET_READY.some((endpoint) => endpoint.address === answer.address));
}

describe('lookaside end to end: errors', function () {
  const group = new ProcessGroup();

  after(async function () {
    await group.stopAll();
  });

  describe('bad requests', function () {
    let lookaside: RunningLookaside;

    before(async function () {
      lookaside = await group.start({ services: STANDARD_SERVICES, env: STANDARD_ENV });
    });

    it('rejects an empty service with INVALID_ARGUMENT', async function () {
      assertError(await lookaside.resolveError({ service: '' }), 'invalid_argument', 'service is required');
    });

    it('rejects every service name that is not an RFC 1123 label with INVALID_ARGUMENT, and keeps serving', async function () {
      const errors = await callMany(MALFORMED_NAMES.length, (index) => lookaside.resolveError({ service: MALFORMED_NAMES[index]?.[1] }));
      errors.forEach((error, index) => {
        const [what = ''] = MALFORMED_NAMES[index] ?? [];
        assert.equal(error.code, 'invalid_argument', `a service with ${what}: ${error.message}`);
        assert.match(error.message, /^service ".*" is not a valid name: it must be an RFC 1123 label/s, `a service with ${what}`);
        assert.ok(error.message.length < MAX_MESSAGE_LENGTH, `a service with ${what}: message of ${error.message.length} characters`);
      });
      await assertStillServes(lookaside);
    });

    it('rejects a namespace that is not an RFC 1123 label with INVALID_ARGUMENT', async function () {
      const names = ['Team-A', 'team_a', 'a'.repeat(64), 'team-a.svc', 'équipe'];
      const errors = await callMany(names.length, (index) => lookaside.resolveError({ service: 'greet', namespace: names[index] }));
      for (const error of errors) assertError(error, 'invalid_argument', 'namespace "', 'RFC 1123 label');
    });

    it('accepts a name of exactly 63 characters (and answers NOT_FOUND for it)', async function () {
      const name = `g${'0'.repeat(62)}`;
      assertError(await lookaside.resolveError({ service: name }), 'not_found', `${OWN_NAMESPACE}/${name}`);
    });

    it('answers NOT_FOUND, naming the Service, when it has no EndpointSlices', async function () {
      assertError(
        await lookaside.resolveError({ service: 'nosuch' }),
        'not_found',
        `no endpoints known for Service ${OWN_NAMESPACE}/nosuch`,
        'is not listed in the endpoints file',
      );
    });

    it('answers NOT_FOUND for a Service listed in the file with no endpoints, without claiming it is not listed', async function () {
      const error = await lookaside.resolveError({ service: 'empty' });
      assertError(error, 'not_found', `${OWN_NAMESPACE}/empty`, 'with no endpoints');
      assert.ok(!error.message.includes('not listed'), error.message);
    });

    it('answers UNAVAILABLE when the Service has EndpointSlices but no ready endpoint', async function () {
      assertError(
        await lookaside.resolveError({ service: 'down' }),
        'unavailable',
        `Service ${OWN_NAMESPACE}/down has no ready endpoint`,
        '2 endpoint(s) not ready or terminating',
      );
    });

    it('rejects an unknown port_name with INVALID_ARGUMENT listing the ports there are', async function () {
      assertError(
        await lookaside.resolveError({ service: 'multi', port_name: 'admin' }),
        'invalid_argument',
        'no port named "admin"',
        'grpc, metrics',
      );
    });

    it('rejects a port_name that is not an RFC 1123 label with INVALID_ARGUMENT', async function () {
      assertError(await lookaside.resolveError({ service: 'multi', port_name: 'GRPC' }), 'invalid_argument', 'port_name "GRPC"');
    });

    it('asks for port_name (INVALID_ARGUMENT) when the Service has several ports and none is named "grpc"', async function () {
      assertError(await lookaside.resolveError({ service: 'web' }), 'invalid_argument', 'several ports (http, https)', 'set port_name');
    });

    it('rejects a policy number the proto does not define with INVALID_ARGUMENT', async function () {
      assertError(await lookaside.resolveError({ service: 'greet', policy: 7 }), 'invalid_argument', 'unknown policy 7', 'ROUND_ROBIN');
    });

    it('rejects a seed router number the proto does not define with INVALID_ARGUMENT', async function () {
      assertError(await lookaside.seedError({ service: 'greet', router: 5 }), 'invalid_argument', 'unknown router 5', 'ROUNDROBIN');
    });

    it('gives the seed API the same checks: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE', async function () {
      const [malformed, missing, down] = await Promise.all([
        lookaside.seedError({ service: 'Greet' }),
        lookaside.seedError({ service: 'nosuch' }),
        lookaside.seedError({ service: 'down' }),
      ]);
      assertError(malformed, 'invalid_argument', 'service "Greet"');
      assertError(missing, 'not_found', `${OWN_NAMESPACE}/nosuch`);
      assertError(down, 'unavailable', 'no ready endpoint');
    });

    it('answers bytes that are not a request (v1 and seed) with INVALID_ARGUMENT, and a request cut short with INVALID_ARGUMENT, not UNIMPLEMENTED', async function () {
      const raw = new RawGrpcClient(lookaside.target);
      try {
        const notProtobuf = grpcFrame(Buffer.from([0xff, 0xff, 0xff]));
        for (const path of ['/lookaside.v1.Lookaside/Resolve', '/lookaside.Lookaside/Resolve']) {
          const answer = await raw.call(path, notProtobuf);
          assert.equal(answer.status, 3, `${path}: ${answer.message}`);
          assert.match(answer.message, /^cannot decode the request: /, path);
        }
        const cut = Buffer.from([0, 0, 0, 0, 50, 0x0a, 0x05]); // announces 50 bytes, 2 arrive, then END_STREAM
        const answer = await raw.call('/lookaside.v1.Lookaside/Resolve', cut);
        assert.equal(answer.status, 3, answer.message);
        assert.equal(answer.message, 'the request ended before one whole message arrived; this method takes exactly one');
      } finally {
        raw.close();
      }
      await assertStillServes(lookaside);
    });

    it('refuses a request larger than 16 KB with RESOURCE_EXHAUSTED, and keeps serving', async function () {
      const error = await lookaside.resolveError({ service: 'g'.repeat(20_000) });
      assert.equal(error.code, 'resource_exhausted', error.message);
      await assertStillServes(lookaside);
    });
  });

  describe('MAX_SERVICES', function () {
    let lookaside: RunningLookaside;

    before(async function () {
      lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, MAX_SERVICES: '2' } });
    });

    it('answers RESOURCE_EXHAUSTED for a new Service once MAX_SERVICES are watched, and keeps serving the watched ones', async function () {
      await lookaside.resolve({ service: 'greet' });
      await lookaside.resolve({ service: 'pair' });
      // Rejected names never take a slot.
      assert.equal((await lookaside.resolveError({ service: 'Not-Valid' })).code, 'invalid_argument');

      assertError(
        await lookaside.resolveError({ service: 'ipv6' }),
        'resource_exhausted',
        'maximum of 2 services (MAX_SERVICES)',
        `${OWN_NAMESPACE}/ipv6`,
      );
      await assertStillServes(lookaside);
      assert.equal((await lookaside.scrape()).value('lookaside_watched_services'), 2);
    });
  });

  describe('made-up Service names', function () {
    let lookaside: RunningLookaside;

    before(async function () {
      // A negative entry outliving the test: on a loaded machine the second bogus-0 may come after the default 5 s.
      const env = { ...STANDARD_ENV, MAX_SERVICES: '2', NEGATIVE_CACHE_SECONDS: '3600' };
      lookaside = await group.start({ services: STANDARD_SERVICES, env });
    });

    it('answers NOT_FOUND for more made-up names than MAX_SERVICES, then still serves real Services', async function () {
      const errors = await callMany(8, (index) => lookaside.resolveError({ service: `bogus-${index}` }));
      for (const error of errors) assertError(error, 'not_found', 'is not listed in the endpoints file');
      assertError(await lookaside.resolveError({ service: 'bogus-0' }), 'not_found', `${OWN_NAMESPACE}/bogus-0`);

      await assertStillServes(lookaside);
      assert.ok((await lookaside.resolve({ service: 'pair' })).address.length > 0);
      const page = await lookaside.scrape();
      assert.equal(page.value('lookaside_watched_services'), 2);
      assert.equal(page.value('lookaside_service_lookups_total', { result: 'missing' }), 8);
      assert.deepEqual([...page.labelValues('lookaside_resolve_total', 'service')].sort(), ['_unwatched', 'greet', 'pair']);
    });
  });

  describe('ALLOWED_NAMESPACES', function () {
    let lookaside: RunningLookaside;

    before(async function () {
      lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, ALLOWED_NAMESPACES: `${OWN_NAMESPACE},staging` } });
    });

    it('answers PERMISSION_DENIED for a namespace outside ALLOWED_NAMESPACES, naming it and the setting', async function () {
      assertError(
        await lookaside.resolveError({ service: 'greet', namespace: 'default' }),
        'permission_denied',
        'namespace "default"',
        'ALLOWED_NAMESPACES',
      );
    });

    it('serves the allowed namespaces, including its own through an empty namespace', async function () {
      const [explicit, implicit] = await Promise.all([
        lookaside.resolve({ service: 'greet', namespace: OWN_NAMESPACE }),
        lookaside.resolve({ service: 'greet' }),
      ]);
      assert.equal(explicit.readyEndpoints, 3);
      assert.equal(implicit.readyEndpoints, 3);
    });
  });
});
