import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ControlPlane } from '../support/control-plane.js';
import { eventually, REPO_ROOT } from '../support/process.js';

/**
 * The Gateway API standard-channel CRDs, fetched from the Go module
 * sigs.k8s.io/gateway-api by test/kube/gateway-api.sh (make gateway-api-crds)
 * into the same cache as the kube binaries.
 */
export function gatewayApiVersion(): string {
  return readFileSync(join(REPO_ROOT, 'test/kube/GATEWAY_API_VERSION'), 'utf8').trim();
}

export function gatewayApiDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env['LOOKASIDE_KUBE_CACHE'] ?? join(env['XDG_CACHE_HOME'] ?? join(env['HOME'] ?? '/root', '.cache'), 'lookaside');
  return join(cacheRoot, `gateway-api-${gatewayApiVersion()}`);
}

let installed: Promise<void> | undefined;

/** Applies the standard-channel CRDs once per control plane and waits until GRPCRoutes can be listed. */
export function installGatewayApi(plane: ControlPlane): Promise<void> {
  installed ??= (async () => {
    const dir = gatewayApiDirectory();
    if (!existsSync(join(dir, 'gateway.networking.k8s.io_grpcroutes.yaml'))) {
      throw new Error(`the Gateway API CRDs are not in ${dir}: run make gateway-api-crds`);
    }
    const applied = await plane.kubectl(['apply', '--server-side', '-f', dir]);
    if (applied.code !== 0) throw new Error(`kubectl apply of the Gateway API CRDs failed: ${applied.stderr}`);
    await eventually(
      async () => {
        const answer = await plane.admin.request('GET', '/apis/gateway.networking.k8s.io/v1/grpcroutes', undefined, { allowErrors: true, timeoutMs: 5_000 });
        return answer.status === 200 ? true : undefined;
      },
      30_000,
      'the GRPCRoute CRD established',
    );
  })();
  return installed;
}
