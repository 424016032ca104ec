import type { FileEndpoint, FileService } from './lookaside.js';

/** The lookaside's own namespace in these tests (POD_NAMESPACE), so "" must mean it. */
export const OWN_NAMESPACE = 'team-a';

/** team-a/greet: three ready pods, one not ready, one terminating (still ready). */
export const GREET_READY: readonly FileEndpoint[] = [
  { address: '10.0.0.1:50051', pod: 'greet-0', zone: 'zone-a', node: 'node-1' },
  { address: '10.0.0.2:50051', pod: 'greet-1', zone: 'zone-b', node: 'node-2' },
  { address: '10.0.0.3:50051', pod: 'greet-2', zone: 'zone-c', node: 'node-3' },
];
export const GREET_NOT_READY: readonly FileEndpoint[] = [
  { address: '10.0.0.4:50051', pod: 'greet-3', ready: false },
  { address: '10.0.0.5:50051', pod: 'greet-4', terminating: true },
];

/** team-a/pair: two ready pods and one not ready, for the random policies. */
export const PAIR_READY_IPS = ['10.0.3.1', '10.0.3.2'] as const;

/**
 * One file that exercises every shape: namespaces that share a Service name,
 * IPv6, several named ports, nothing ready, a listed Service without endpoints.
 */
export const STANDARD_SERVICES: readonly FileService[] = [
  { namespace: OWN_NAMESPACE, name: 'greet', endpoints: [...GREET_READY, ...GREET_NOT_READY] },
  { namespace: 'default', name: 'greet', endpoints: [{ address: '10.1.0.1:50051', pod: 'other-greet-0' }] },
  { namespace: OWN_NAMESPACE, name: 'ipv6', endpoints: [{ address: '[fd00::1]:8080', pod: 'v6-0' }] },
  {
    namespace: OWN_NAMESPACE,
    name: 'multi',
    endpoints: [
      { address: '10.0.1.1:50051', pod: 'multi-0', port_name: 'grpc' },
      { address: '10.0.1.1:9090', pod: 'multi-0', port_name: 'metrics' },
      { address: '10.0.1.2:50051', pod: 'multi-1', port_name: 'grpc' },
      { address: '10.0.1.2:9090', pod: 'multi-1', port_name: 'metrics' },
    ],
  },
  {
    namespace: OWN_NAMESPACE,
    name: 'web',
    endpoints: [
      { address: '10.0.2.1:8080', pod: 'web-0', port_name: 'http' },
      { address: '10.0.2.1:8443', pod: 'web-0', port_name: 'https' },
    ],
  },
  {
    namespace: OWN_NAMESPACE,
    name: 'pair',
    endpoints: [
      { address: `${PAIR_READY_IPS[0]}:50051`, pod: 'pair-0' },
      { address: `${PAIR_READY_IPS[1]}:50051`, pod: 'pair-1' },
      { address: '10.0.3.3:50051', pod: 'pair-2', ready: false },
    ],
  },
  {
    namespace: OWN_NAMESPACE,
    name: 'down',
    endpoints: [
      { address: '10.0.4.1:50051', pod: 'down-0', ready: false },
      { address: '10.0.4.2:50051', pod: 'down-1', terminating: true },
    ],
  },
  { namespace: OWN_NAMESPACE, name: 'empty', endpoints: [] },
];

export const STANDARD_ENV: Readonly<Record<string, string>> = { POD_NAMESPACE: OWN_NAMESPACE };
