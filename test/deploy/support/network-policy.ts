import type { Container, KubeObject } from './manifests.js';

/**
 * Which pods may open a connection to which pod port, as a network plugin
 * would read the rendered NetworkPolicies (networking.k8s.io/v1, Ingress
 * only). A small model of the API's rules, enough for deploy/'s policies:
 * podSelector/namespaceSelector with matchLabels and matchExpressions (In,
 * NotIn, Exists, DoesNotExist), numbered and named ports, TCP. ipBlock peers
 * never match a pod here (pod traffic is what the checks ask about).
 */

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: ReadonlyArray<{ readonly key: string; readonly operator: string; readonly values?: readonly string[] }>;
}

interface PolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: unknown;
}

interface PolicyPort {
  readonly protocol?: string;
  readonly port?: number | string;
  readonly endPort?: number;
}

export interface NetworkPolicy extends KubeObject {
  readonly spec: {
    readonly podSelector: LabelSelector;
    readonly policyTypes?: readonly string[];
    readonly ingress?: ReadonlyArray<{ readonly from?: readonly PolicyPeer[]; readonly ports?: readonly PolicyPort[] }>;
  };
}

/** A pod as the policy sees it: its labels, its namespace's labels, its containers' ports. */
export interface PolicyPod {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly containers?: readonly Container[];
}

export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpression = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const value = labels[key];
    switch (operator) {
      case 'In':
        return value !== undefined && values.includes(value);
      case 'NotIn':
        return value === undefined || !values.includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      default:
        throw new Error(`selector operator ${operator} is not modelled`);
    }
  });
  return byLabel && byExpression;
}

function isIngressPolicy(policy: NetworkPolicy): boolean {
  // Without policyTypes, a policy is about Ingress (and Egress too when it has egress rules).
  return policy.spec.policyTypes === undefined || policy.spec.policyTypes.includes('Ingress');
}

function peerMatches(peer: PolicyPeer, policyNamespace: string, source: PolicyPod): boolean {
  if (peer.ipBlock !== undefined) return false;
  const inNamespace =
    peer.namespaceSelector === undefined ? source.namespace === policyNamespace : matchesSelector(peer.namespaceSelector, source.namespaceLabels);
  return inNamespace && matchesSelector(peer.podSelector ?? {}, source.labels);
}

function portMatches(rule: PolicyPort, target: PolicyPod, port: number): boolean {
  if ((rule.protocol ?? 'TCP') !== 'TCP') return false;
  if (rule.port === undefined) return true;
  if (typeof rule.port === 'number') return port >= rule.port && port <= (rule.endPort ?? rule.port);
  return (target.containers ?? []).some((container) =>
    (container.ports ?? []).some((declared) => declared.name === rule.port && declared.containerPort === port),
  );
}

/** Whether `source` may connect to `target` on TCP `port` under `policies`. */
export function ingressAllowed(policies: readonly NetworkPolicy[], source: PolicyPod, target: PolicyPod, port: number): boolean {
  const selecting = policies.filter(
    (policy) =>
      (policy.metadata.namespace ?? 'default') === target.namespace &&
      isIngressPolicy(policy) &&
      matchesSelector(policy.spec.podSelector, target.labels),
  );
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    (policy.spec.ingress ?? []).some(
      (rule) =>
        (rule.from === undefined || rule.from.length === 0 || rule.from.some((peer) => peerMatches(peer, policy.metadata.namespace ?? 'default', source))) &&
        (rule.ports === undefined || rule.ports.length === 0 || rule.ports.some((candidate) => portMatches(candidate, target, port))),
    ),
  );
}
