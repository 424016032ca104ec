/** The part of a node:http2 ClientHttp2Session that keepalive uses; a fake in tests. */
export interface PingableSession {
  readonly connecting: boolean;
  /** node:http2 calls back with an error when the PING is cancelled (the session is closing, or not connected). */
  ping(callback: (error: Error | null) => void): boolean;
  once(event: 'connect' | 'close', listener: () => void): unknown;
}

export interface KeepaliveOptions {
  /** A PING this long after the last answer; 0 = no periodic PINGs (checkNow() still works). */
  readonly timeMs: number;
  /** The PING's answer, and the TCP connection itself, must come within this long. */
  readonly timeoutMs: number;
  /** Called once when the connection is found dead; the owner then destroys the session. */
  readonly onDead: (reason: string) => void;
}

/**
 * HTTP/2 keepalive for one client connection, as gRPC's keepalive does it:
 * a PING `timeMs` after the last one was answered, and the connection is
 * dead when the answer does not come within `timeoutMs`. A connection whose
 * peer vanished (a node gone behind a ClusterIP: packets dropped, socket
 * still open) is found so, instead of when the kernel gives up after about
 * 15 minutes. One timer per connection, whatever the traffic.
 */
export class ConnectionKeepalive {
  private timer: NodeJS.Timeout | undefined;
  /** A PING is out, or the connection is not up yet: the timer is the timeout. */
  private awaiting = false;
  private stopped = false;

  constructor(
    private readonly session: PingableSession,
    private readonly options: KeepaliveOptions,
  ) {
    session.once('close', () => this.stop());
    if (session.connecting) {
      this.awaiting = true;
      this.arm(() => this.dead(`no connection within ${options.timeoutMs} ms`), options.timeoutMs);
      session.once('connect', () => {
        this.awaiting = false;
        this.scheduleNext();
      });
    } else {
      this.scheduleNext();
    }
  }

  /** Checks the connection now (a call on it missed its deadline), unless a check is already under way. */
  checkNow(): void {
    if (!this.awaiting && !this.stopped) this.sendPing();
  }

  /** No more PINGs or timeouts; called when the session closes. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    if (this.options.timeMs > 0) this.arm(() => this.sendPing(), this.options.timeMs);
    else clearTimeout(this.timer);
  }

  private sendPing(): void {
    this.awaiting = true;
    this.arm(() => this.dead(`no answer to a PING within ${this.options.timeoutMs} ms`), this.options.timeoutMs);
    try {
      this.session.ping((error) => this.answered(error));
    } catch {
      // The session was destroyed under us: its 'close' stops this.
    }
  }

  private answered(error: Error | null): void {
    if (this.stopped || error !== null) return; // cancelled: the session is closing
    this.awaiting = false;
    this.scheduleNext();
  }

  private dead(reason: string): void {
    if (this.stopped) return;
    this.stop();
    this.options.onDead(reason);
  }

  private arm(action: () => void, afterMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(action, afterMs);
    this.timer.unref();
  }
}
