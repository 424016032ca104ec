import type { PrimaryChannel, WorkerChannel } from '../../src/lookaside/workers/channel.js';
import type { PrimaryMessage, WorkerMessage } from '../../src/lookaside/workers/protocol.js';

/** Two ends joined in memory, delivering asynchronously as IPC does (for tests). */
export function channelPair(): { readonly worker: WorkerChannel; readonly primary: PrimaryChannel } {
  const toWorker = new Set<(message: PrimaryMessage) => void>();
  const toPrimary = new Set<(message: WorkerMessage) => void>();
  const deliver = <T>(listeners: Set<(message: T) => void>, message: T): void => {
    const copy = structuredClone(message);
    setImmediate(() => {
      for (const listener of [...listeners]) listener(copy);
    });
  };
  return {
    worker: {
      send: (message) => deliver(toPrimary, message),
      onMessage: (listener) => {
        toWorker.add(listener);
        return () => toWorker.delete(listener);
      },
    },
    primary: {
      send: (message) => deliver(toWorker, message),
      onMessage: (listener) => {
        toPrimary.add(listener);
        return () => toPrimary.delete(listener);
      },
    },
  };
}
