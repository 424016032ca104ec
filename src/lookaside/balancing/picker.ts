import type { Endpoint } from '../discovery/types.js';

/**
 * Chooses the endpoint for one call. A picker is built over one immutable,
 * non-empty endpoint list; when the list changes a new picker replaces it, so a
 * call never sees a half-updated list.
 */
export interface Picker {
  pick(): Endpoint;
}

export const POLICY_NAMES = ['round_robin', 'random', 'least_request', 'weighted_round_robin'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];
