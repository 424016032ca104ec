import { mock } from 'node:test';

/**
 * Node's mock timers for one test: setTimeout, setInterval and Date stand
 * still until `tick` moves them, so a test about deadlines runs the same on
 * a busy machine as on an idle one. mocha keeps its own timer references,
 * so its timeouts still run on real time.
 */
export interface FakeClock {
  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  tick(ms: number): void;
  /** Back to real timers. */
  restore(): void;
}

export function installFakeClock(startMs = 1_000_000): FakeClock {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: startMs });
  return {
    // One millisecond at a time: Node 20's tick(ms) moves the clock to the end
    // first and then fires what is due, so a timer set from inside a callback
    // would start from the wrong time (a 1 ms step costs about 0.2 µs).
    tick: (ms) => {
      for (let step = 0; step < ms; step += 1) mock.timers.tick(1);
    },
    restore: () => mock.timers.reset(),
  };
}
