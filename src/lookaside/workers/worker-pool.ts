import cluster, { type Worker } from 'node:cluster';

import type { Logger } from '../../common/logging.js';
import type { JsonAnswer } from '../../common/metrics.js';
import type { DiscoverySource } from '../discovery/types.js';
import type { RouteSource } from '../routing/route-source.js';
import { primaryChannel, type PrimaryChannel } from './channel.js';
import { CHANNEL, type PrimaryMessage } from './protocol.js';
import { WorkerRelay } from './worker-relay.js';

/** A worker that died is started again after this long (a crash loop costs at most one fork per second per slot). */
export const WORKER_RESTART_DELAY_MS = 1_000;
/** A worker that has not answered a page request after this long is left out of the answer. */
export const PAGE_ANSWER_LIMIT_MS = 5_000;

/** One slot's answer to a page, for the primary's combined page. */
export interface WorkerAnswer {
  readonly worker: number;
  readonly answer: JsonAnswer;
}

/** A slot as /debug/workers shows it. */
export interface SlotView {
  readonly worker: number;
  readonly pid: number | undefined;
  readonly listening: boolean;
  readonly restarts: number;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  channel: PrimaryChannel | undefined;
  listening: boolean;
  restarts: number;
}

export interface WorkerPoolOptions {
  readonly count: number;
  /** The built worker-main.js. */
  readonly exec: string;
  readonly source: DiscoverySource;
  readonly routes: RouteSource | undefined;
  readonly logger: Logger;
  /** A worker died and is being started again. */
  readonly onRestart: (slot: number) => void;
  /** The number of workers serving changed. */
  readonly onListening: (listening: number) => void;
}

/**
 * The gRPC edge workers, one per slot 0…count-1 (a slot keeps its number, and
 * its round-robin offset and metrics label, across restarts). Forks them with
 * node:cluster, relays each one's follows and routes, starts a worker that
 * died again, and stops them all on request.
 */
export class WorkerPool {
  private readonly slots: Slot[];
  private stopping = false;
  private nextRequest = 1;
  private readonly pending = new Map<number, (answer: JsonAnswer) => void>();

  constructor(private readonly options: WorkerPoolOptions) {
    cluster.setupPrimary({ exec: options.exec, serialization: 'advanced' });
    this.slots = Array.from({ length: options.count }, (_, index) => ({ index, worker: undefined, channel: undefined, listening: false, restarts: 0 }));
  }

  /** Forks every worker; resolves with the gRPC port once all listen, rejects if one exits first. */
  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      let listening = 0;
      let port = 0;
      for (const slot of this.slots) {
        this.fork(slot, {
          listening: (bound) => {
            port = bound;
            if (++listening === this.slots.length) resolve(port);
          },
          exitedEarly: (why) => reject(new Error(`gRPC edge worker ${slot.index} ${why} before listening (LB_WORKERS=${this.slots.length}); its log says why`)),
        });
      }
    });
  }

  get listening(): number {
    return this.slots.filter((slot) => slot.listening).length;
  }

  get size(): number {
    return this.slots.length;
  }

  view(): SlotView[] {
    return this.slots.map((slot) => ({ worker: slot.index, pid: slot.worker?.process.pid, listening: slot.listening, restarts: slot.restarts }));
  }

  /** Asks every listening worker for a page; each answers from its own state. */
  async ask(path: string, query: string): Promise<WorkerAnswer[]> {
    const asked = this.slots.filter((slot) => slot.listening && slot.channel !== undefined);
    return Promise.all(asked.map(async (slot) => ({ worker: slot.index, answer: await this.askOne(slot, path, query) })));
  }

  /**
   * Tells every worker to drain (unary calls finish, streams end) and waits
   * until all have exited; one still there `killAfterMs` later is killed.
   */
  async stop(killAfterMs: number): Promise<void> {
    this.stopping = true;
    const exits = this.slots.map((slot) => {
      const worker = slot.worker;
      if (worker === undefined || worker.isDead()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.options.logger.warn({ worker: slot.index, workerPid: worker.process.pid, afterMs: killAfterMs }, 'worker still draining; killing it');
          worker.process.kill('SIGKILL');
        }, killAfterMs);
        timer.unref();
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        slot.channel?.send({ channel: CHANNEL, type: 'stop' });
      });
    });
    await Promise.all(exits);
  }

  /** Sends what one worker learnt (an ejection) to every other worker. */
  private broadcast(from: Slot, message: PrimaryMessage): void {
    for (const slot of this.slots) if (slot !== from) slot.channel?.send(message);
  }

  private askOne(slot: Slot, path: string, query: string): Promise<JsonAnswer> {
    const request = this.nextRequest++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish({ status: 504, body: { error: { code: 'DEADLINE_EXCEEDED', message: `worker ${slot.index} did not answer within ${PAGE_ANSWER_LIMIT_MS} ms` } } }), PAGE_ANSWER_LIMIT_MS);
      timer.unref();
      const finish = (answer: JsonAnswer): void => {
        clearTimeout(timer);
        this.pending.delete(request);
        resolve(answer);
      };
      this.pending.set(request, finish);
      slot.channel?.send({ channel: CHANNEL, type: 'page', request, path, query });
    });
  }

  private fork(slot: Slot, startup?: { listening: (port: number) => void; exitedEarly: (why: string) => void }): void {
    const worker = cluster.fork();
    const channel = primaryChannel(worker);
    const relay = new WorkerRelay(channel, this.options.source, this.options.routes);
    Object.assign(slot, { worker, channel, listening: false });
    channel.onMessage((message) => {
      if (relay.handle(message)) return;
      if (message.type === 'hello') {
        channel.send({ channel: CHANNEL, type: 'start', slot: slot.index, workers: this.slots.length, routes: this.options.routes !== undefined });
      } else if (message.type === 'page') this.pending.get(message.request)?.(message.answer);
      else if (message.type === 'ejected') this.broadcast(slot, message);
      else if (message.type === 'listening') {
        slot.listening = true;
        this.options.logger.info({ worker: slot.index, workerPid: worker.process.pid, port: message.port }, 'worker listening');
        this.options.onListening(this.listening);
        startup?.listening(message.port);
      }
    });
    worker.once('exit', (code, signal) => {
      relay.close();
      const wasListening = slot.listening;
      slot.listening = false;
      if (slot.worker === worker) slot.worker = undefined;
      this.options.onListening(this.listening);
      if (this.stopping) return;
      if (!wasListening && startup !== undefined) {
        startup.exitedEarly(signal === null ? `exited with code ${code}` : `was killed by ${signal}`);
        return;
      }
      slot.restarts += 1;
      this.options.onRestart(slot.index);
      this.options.logger.warn({ worker: slot.index, workerPid: worker.process.pid, code, signal, restartInMs: WORKER_RESTART_DELAY_MS }, 'worker exited; starting it again');
      setTimeout(() => {
        if (!this.stopping) this.fork(slot);
      }, WORKER_RESTART_DELAY_MS).unref();
    });
  }
}
