import { existsSync } from 'node:fs';

import { KubeConfig } from '@kubernetes/client-node';

/** Where the API server's address and credentials come from: kubeconfig files (merged in order), or the pod's own. */
export type KubeClusterConfig = { readonly kind: 'kubeconfig'; readonly files: readonly string[] } | { readonly kind: 'in-cluster' };

/** Where Kubernetes mounts a pod's service account token (client-node's loadFromCluster reads it there). */
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads the API server's address and credentials the config chose. Never
 * falls back to client-node's default of http://localhost:8080. Errors name
 * KUBECONFIG and the file, and give a YAML fault's position only: a kubeconfig
 * holds tokens and keys, and the YAML parser's own message quotes the lines
 * around the fault.
 */
export function loadKubeConfig(cluster: KubeClusterConfig, fileExists: (path: string) => boolean = existsSync): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (cluster.kind === 'in-cluster') {
    if (!fileExists(SERVICE_ACCOUNT_TOKEN_PATH)) {
      throw new Error(
        `KUBECONFIG: is not set, and the in-cluster config has no service account token at ${SERVICE_ACCOUNT_TOKEN_PATH} ` +
          '(automountServiceAccountToken: false?): mount the token, or set KUBECONFIG',
      );
    }
    kubeConfig.loadFromCluster();
    return kubeConfig;
  }
  cluster.files.forEach((file, index) => {
    const loaded = index === 0 ? kubeConfig : new KubeConfig();
    try {
      loaded.loadFromFile(file);
      if (loaded !== kubeConfig) kubeConfig.mergeConfig(loaded);
    } catch (error) {
      // No `cause`: the parser's error quotes the file's lines, credentials included.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`KUBECONFIG: ${file}: ${describeLoadError(error)}`);
    }
  });
  if (kubeConfig.getCurrentCluster() === null) {
    throw new Error(
      `KUBECONFIG: ${cluster.files.join(', ')}: the current context ${JSON.stringify(kubeConfig.getCurrentContext() ?? '')} ` +
        'names no cluster defined there',
    );
  }
  return kubeConfig;
}

/** js-yaml's error: `mark` holds the 0-based position; `message` quotes the file around it. */
interface YamlError {
  readonly name: 'YAMLException';
  readonly reason: string;
  readonly mark: { readonly line: number; readonly column: number };
}

function isYamlError(error: unknown): error is YamlError {
  return error instanceof Error && error.name === 'YAMLException' && typeof (error as Partial<YamlError>).mark?.line === 'number';
}

function describeLoadError(error: unknown): string {
  if (isYamlError(error)) {
    // The parser's reasons are fixed phrases, except a few that quote a name from the file.
    const reason = /^[a-z ,()-]+$/i.test(error.reason) ? ` (${error.reason})` : '';
    return (
      `not valid YAML at line ${error.mark.line + 1}, column ${error.mark.column + 1}${reason}; ` +
      'its content is not shown, as a kubeconfig holds credentials'
    );
  }
  // File system errors name the path; client-node's own checks name fields (`users[0].name is missing`), not values.
  const firstLine = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
  return `not a usable kubeconfig: ${firstLine.slice(0, 200)}`;
}
