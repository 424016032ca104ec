import assert from 'node:assert/strict';

import { isHostName, isRfc1123Label, joinHostPort, splitHostPort, splitIpPort } from '../../src/common/addresses.js';

describe('addresses: the one home of host:port and name rules', () => {
  it('joins host and port, putting an IPv6 address in brackets', () => {
    assert.equal(joinHostPort('10.0.0.1', 80), '10.0.0.1:80');
    assert.equal(joinHostPort('fd00::1', 80), '[fd00::1]:80');
    assert.equal(joinHostPort('lookaside.default.svc', 50055), 'lookaside.default.svc:50055');
  });

  it('splits host:port and [ipv6]:port, and refuses what is not that', () => {
    assert.deepEqual(splitHostPort('lookaside:50055'), { host: 'lookaside', port: 50055 });
    assert.deepEqual(splitHostPort('[fd00::1]:443'), { host: 'fd00::1', port: 443 });
    for (const bad of ['lookaside', 'fd00::1:80', '[lookaside]:80', 'host:0', 'host:65536', 'host:', ':80', 'a:b:80', 'host:8o']) {
      assert.equal(splitHostPort(bad), undefined, bad);
    }
  });

  it('splits ip:port only when the host is an IP address', () => {
    assert.deepEqual(splitIpPort('10.0.0.7:50051'), { ip: '10.0.0.7', port: 50051 });
    assert.deepEqual(splitIpPort('[fd00::7]:8080'), { ip: 'fd00::7', port: 8080 });
    assert.equal(splitIpPort('pod-a:80'), undefined);
    assert.equal(splitIpPort('10.0.0.1:99999'), undefined);
  });

  it('knows RFC 1123 labels (Kubernetes names) and host names', () => {
    assert.ok(isRfc1123Label('greetserver-2'));
    assert.ok(isRfc1123Label('a'.repeat(63)));
    for (const bad of ['', 'Greet', '-greet', 'greet-', 'greet.server', 'a'.repeat(64)]) assert.ok(!isRfc1123Label(bad), bad);
    assert.ok(isHostName('lookaside.default.svc.cluster.local'));
    assert.ok(isHostName('Lookaside'));
    assert.ok(isHostName('fd00::1'));
    for (const bad of ['', 'bad host', 'a..b', '-a', 'a_b']) assert.ok(!isHostName(bad), bad);
  });
});
