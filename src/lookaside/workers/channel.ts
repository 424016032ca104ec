import { isPrimaryMessage, isWorkerMessage, type PrimaryMessage, type WorkerMessage } from './protocol.js';

/** One end of the IPC channel between the primary and a worker; tests join two ends in memory. */
export interface Channel<Out, In> {
  send(message: Out): void;
  /** Calls `listener` with every lookaside message that arrives, until the returned function is called. */
  onMessage(listener: (message: In) => void): () => void;
}

export type WorkerChannel = Channel<WorkerMessage, PrimaryMessage>;
export type PrimaryChannel = Channel<PrimaryMessage, WorkerMessage>;

/** Whatever can send and receive IPC messages: the worker's `process`, or the primary's `cluster.Worker`. */
interface IpcEnd {
  send?(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  isConnected?(): boolean;
  readonly connected?: boolean;
}

/** The worker's end: its own process. Messages to a primary that is gone are dropped (the worker is exiting). */
export function workerChannel(end: IpcEnd): WorkerChannel {
  return ipcChannel(end, isPrimaryMessage, () => end.connected !== false);
}

/** The primary's end of one worker's channel. */
export function primaryChannel(end: IpcEnd): PrimaryChannel {
  return ipcChannel(end, isWorkerMessage, () => end.isConnected?.() !== false);
}

function ipcChannel<Out, In>(end: IpcEnd, accepts: (message: unknown) => message is In, connected: () => boolean): Channel<Out, In> {
  return {
    send(message) {
      if (!connected()) return;
      try {
        end.send?.(message);
      } catch {
        // The other side just went away (EPIPE): its exit is handled where it is watched.
      }
    },
    onMessage(listener) {
      const handler = (message: unknown): void => {
        if (accepts(message)) listener(message);
      };
      end.on('message', handler);
      return () => end.off('message', handler);
    },
  };
}
