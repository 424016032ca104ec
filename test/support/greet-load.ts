import { postGreet } from './http.js';

/** POST /greet from `concurrency` loops until stopped; every answer counted by status. */
export class GreetLoad {
  readonly statuses = new Map<number, number>();
  /** The first few answers other than 200, for the assertion message. */
  readonly failures: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly port: number,
    concurrency: number,
  ) {
    this.loops = Array.from({ length: concurrency }, () => this.loop());
  }

  get total(): number {
    return [...this.statuses.values()].reduce((sum, count) => sum + count, 0);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const answer = await postGreet(this.port).catch((error: Error) => ({ status: 0, text: error.message }));
      this.statuses.set(answer.status, (this.statuses.get(answer.status) ?? 0) + 1);
      if (answer.status !== 200 && this.failures.length < 5) this.failures.push(`${answer.status} ${answer.text}`);
    }
  }
}
