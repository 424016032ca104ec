/** Kubeconfig files for tests of how the lookaside reads them. */

/** Secrets short enough that the YAML parser's message would quote them whole. */
export const FAKE_TOKEN = 's3cr3t-t0ken';
export const FAKE_KEY = 's3cr3t-k3y';

/** A kubeconfig whose user has a token and a key, with a mis-indented line right after them. */
export function corruptKubeconfig(): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: prod',
    '  cluster: { server: "https://10.0.0.1:6443" }',
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${FAKE_TOKEN}`,
    `    client-key-data: ${FAKE_KEY}`,
    '   client-certificate-data: mis-indented',
    'contexts:',
    '- { name: prod, context: { cluster: prod, user: admin } }',
    'current-context: prod',
    '',
  ].join('\n');
}
