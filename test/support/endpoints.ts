import type { Endpoint } from '../../src/lookaside/discovery/types.js';
import type { SliceInput, EndpointInput } from '../../src/lookaside/discovery/slices.js';

/** An endpoint as the pickers see it, for `10.0.0.<n>:8080`. */
export function endpoint(n: number, port = 8080): Endpoint {
  const ip = `10.0.0.${n}`;
  return { address: `${ip}:${port}`, ip, port, podName: `pod-${n}`, zone: '', nodeName: '' };
}

/** A Kubernetes-shaped endpoint entry for `10.0.0.<n>`. */
export function sliceEndpoint(n: number, conditions: EndpointInput['conditions'] = { ready: true }): EndpointInput {
  return {
    addresses: [`10.0.0.${n}`],
    conditions,
    targetRef: { kind: 'Pod', name: `pod-${n}` },
    nodeName: `node-${n % 2}`,
    zone: `zone-${n % 3}`,
  };
}

/** An IPv4 EndpointSlice with one port named `grpc` on 50051 unless told otherwise. */
export function slice(
  endpoints: EndpointInput[],
  ports: Array<{ name?: string | null; port?: number | null }> = [{ name: 'grpc', port: 50051 }],
): SliceInput {
  return { addressType: 'IPv4', ports, endpoints };
}

/** A small seeded PRNG (mulberry32), so tests that need randomness repeat exactly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
