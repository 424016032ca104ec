import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const ESTABLISHED = '01';

/**
 * The established TCP connections process `pid` holds to `remotePort`, as the
 * kernel sees them: the sockets among its file descriptors, looked up in
 * /proc/<pid>/net/tcp and tcp6 (which list every socket of its network
 * namespace). Linux only.
 */
export function establishedConnections(pid: number, remotePort: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // Closed while we looked.
    }
  }
  let count = 0;
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, , remote, state] = fields;
      const inode = fields[9];
      if (remote === undefined || inode === undefined || state !== ESTABLISHED || !inodes.has(inode)) continue;
      if (Number.parseInt(remote.split(':')[1] ?? '', 16) === remotePort) count++;
    }
  }
  return count;
}
