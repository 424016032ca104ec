import assert from 'node:assert/strict';

import type { Endpoint } from '../../../src/lookaside/discovery/types.js';
import { RouteTable } from '../../../src/lookaside/routing/route-table.js';
import { parseXdsName } from '../../../src/lookaside/xds/xds-names.js';
import { loadXdsProtos } from '../../../src/lookaside/xds/xds-protos.js';
import { buildResource } from '../../../src/lookaside/xds/xds-resources.js';
import { endpoint } from '../../support/endpoints.js';
import { grpcJsVerdict } from '../../support/xds-validators.js';
import { backend, route } from './route-fixtures.js';

const protos = loadXdsProtos();
const parsed = parseXdsName('greet.default:50051', new Set());
assert.ok(parsed.ok);
const target = parsed.target;
const ENDPOINTS: Endpoint[] = [endpoint(1, 50051)];

/** The routes of the RouteConfiguration built for `greet` with `table`, as JSON, once grpc-js-xds accepted it. */
function clientView(table: RouteTable): string[] {
  const value = buildResource(protos, 'route', target.canonical, target, ENDPOINTS, table.forService('default', 'greet'));
  const verdict = grpcJsVerdict('route', value);
  assert.equal(verdict.error, undefined, verdict.error);
  const config = protos.decode('envoy.config.route.v3.RouteConfiguration', value) as { virtual_hosts: Array<{ routes: Array<Record<string, unknown>> }> };
  return (config.virtual_hosts[0]?.routes ?? []).map((entry) => JSON.stringify({ match: entry['match'], route: entry['route'] }));
}

describe('xDS RouteConfiguration from GRPCRoutes', () => {
  it('turns a 90/10 split into weighted_clusters of the backends on the same port, then the Service itself', () => {
    const routes = clientView(new RouteTable([route('split', [{ backendRefs: [backend('greet-v1', 90), backend('greet-v2', 10), backend('off', 0)] }])]));
    assert.equal(routes.length, 2);
    assert.match(routes[0] as string, /"weighted_clusters":\{"clusters":\[\{"name":"greet-v1\.default\.svc\.cluster\.local:50051","weight":\{"value":90\}[^\]]*\},\{"name":"greet-v2\.default\.svc\.cluster\.local:50051","weight":\{"value":10\}/);
    assert.doesNotMatch(routes[0] as string, /off\.default/);
    assert.match(routes[1] as string, /"prefix":"".*"cluster":"greet\.default\.svc\.cluster\.local:50051"/);
  });

  it('orders and matches as Resolve does: exact method as a path, service as a prefix, method alone as a regex, headers exact', () => {
    const routes = clientView(
      new RouteTable([
        route('by-call', [
          { matches: [{ headers: [{ name: 'x-canary', value: 'yes' }] }], backendRefs: [backend('canary')] },
          { matches: [{ method: { method: 'Ping' } }], backendRefs: [backend('pinger')] },
          { matches: [{ method: { service: 'greet.v1.GreetService' } }], backendRefs: [backend('greeter')] },
          { matches: [{ method: { service: 'greet.v1.GreetService', method: 'Greet' } }], backendRefs: [backend('exact')] },
        ]),
      ]),
    );
    assert.equal(routes.length, 5);
    assert.match(routes[0] as string, /"path":"\/greet\.v1\.GreetService\/Greet".*"cluster":"exact\./);
    assert.match(routes[1] as string, /"prefix":"\/greet\.v1\.GreetService\/".*"cluster":"greeter\./);
    assert.match(routes[2] as string, /"safe_regex":\{"regex":"\/\[\^\/\]\+\/Ping"\}.*"cluster":"pinger\./);
    assert.match(routes[3] as string, /"headers":\[\{"name":"x-canary","string_match":\{"exact":"yes"\}.*"cluster":"canary\./);
  });

  it('gives a backend that can never take calls a cluster that does not exist, so its share fails', () => {
    const routes = clientView(new RouteTable([route('odd', [{ backendRefs: [backend('greet-v1'), { name: 'elsewhere', namespace: 'prod', port: 50051 }] }])]));
    assert.match(routes[0] as string, /"name":"invalid-backend\/elsewhere\.default\.svc\.cluster\.local:50051"/);
  });

  it('serves the plain RouteConfiguration to a Service without routes', () => {
    assert.equal(clientView(RouteTable.EMPTY).length, 1);
  });
});
