import { createHash } from 'node:crypto';

import type { ResourceAnswer } from './xds-feeds.js';
import type { ParsedName } from './xds-names.js';
import type { Subscription } from './subscriptions.js';
import { TYPE_URLS, type XdsProtos, type XdsType } from './xds-protos.js';

/** A DiscoveryResponse ready to go, but for its nonce. */
export interface BuiltResponse {
  readonly version: string;
  /** The encoded DiscoveryResponse without its nonce (protobuf fields concatenate, so the nonce is appended). */
  readonly body: Buffer;
}

/**
 * A Listener or Cluster left out of a State-of-the-World response is deleted
 * by a client that had it, so their responses wait until every name is known
 * (found, or known not to exist). A RouteConfiguration or
 * ClusterLoadAssignment left out is only not updated: those go out without
 * the unknown names, unless that leaves nothing to send.
 */
const ALL_REQUIRED: ReadonlySet<XdsType> = new Set(['listener', 'cluster']);

/**
 * Builds each distinct response once per push: a thousand streams subscribed
 * to the same names share one version hash and one encoded body (the issue's
 * benchmark: a push to 1,000 clients costs one encoding, not a thousand).
 * `invalidate()` is called before each push, when Services changed.
 */
export class SharedResponses {
  private readonly built = new Map<string, BuiltResponse | undefined>();

  constructor(
    private readonly protos: XdsProtos,
    private readonly controlPlane: string,
    private readonly answer: (type: XdsType, name: string, parsed: ParsedName) => ResourceAnswer,
  ) {}

  invalidate(): void {
    this.built.clear();
  }

  /** The response for `subscription`, or undefined when there is nothing to send yet (see ALL_REQUIRED). */
  response(type: XdsType, subscription: Subscription): BuiltResponse | undefined {
    const cacheKey = `${type}\u0001${subscription.key}`;
    if (this.built.has(cacheKey)) return this.built.get(cacheKey);
    const response = this.build(type, subscription);
    this.built.set(cacheKey, response);
    return response;
  }

  /** The nonce field alone, to append to a body. */
  nonceField(nonce: string): Buffer {
    return this.protos.encode('envoy.service.discovery.v3.DiscoveryResponse', { nonce });
  }

  private build(type: XdsType, subscription: Subscription): BuiltResponse | undefined {
    const resources: Array<{ type_url: string; value: Buffer }> = [];
    const hash = createHash('sha1').update(type);
    let unknown = false;
    for (const [name, parsed] of subscription.names) {
      const answer = this.answer(type, name, parsed);
      if (answer.kind === 'unknown') {
        if (ALL_REQUIRED.has(type)) return undefined;
        unknown = true;
      }
      // The version covers the names too: a NACKed response is sent again only once names or content change.
      hash.update(`\u0000${name}\u0000${answer.kind === 'present' ? answer.digest : answer.kind}`);
      if (answer.kind === 'present') resources.push(answer.resource);
    }
    if (unknown && resources.length === 0) return undefined;
    const version = hash.digest('base64url').slice(0, 16);
    const body = this.protos.encode('envoy.service.discovery.v3.DiscoveryResponse', {
      version_info: version,
      resources,
      type_url: TYPE_URLS[type],
      control_plane: { identifier: this.controlPlane },
    });
    return { version, body };
  }
}
