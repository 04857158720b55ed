// The worker's one stream to a coordinator (WorkerService.Connect): register, heartbeat at the
// interval the coordinator sets, and on any break reconnect to the next address in the list.
import { credentials, type ClientDuplexStream, type ChannelOptions } from "@grpc/grpc-js";
import {
  WorkerServiceClient,
  type Assignment,
  type CancelAttempts,
  type CoordinatorMessage,
  type Heartbeat,
  type Register,
  type Registered,
  type WorkerMessage,
} from "../shared/gen/baton/v1/worker.js";

export type ConnectionState = "connecting" | "registered" | "backing_off" | "closed";

export interface ConnectionHandlers {
  /** Built at every (re)connect, so it lists what is running at that moment. */
  register(): Register;
  heartbeat(): Heartbeat;
  onRegistered(registered: Registered, address: string): void;
  onAssignments(assignments: Assignment[]): void;
  onCancel(cancel: CancelAttempts): void;
  onAck(seq: number): void;
  /** The stream broke or ended; `error` says why. Another connect follows unless closed. */
  onDisconnected(address: string, error: Error | undefined, wasRegistered: boolean): void;
}

export interface ConnectionOptions {
  backoffStartMs?: number;
  backoffCapMs?: number;
  /** A coordinator that accepts the stream but never answers Register is given up after this. */
  registerTimeoutMs?: number;
  /** Used when Registered carries no interval. */
  defaultHeartbeatMs?: number;
}

interface Session {
  address: string;
  client: WorkerServiceClient;
  call: ClientDuplexStream<WorkerMessage, CoordinatorMessage>;
  registered: boolean;
  ended: boolean;
  registerTimer?: NodeJS.Timeout;
  heartbeatTimer?: NodeJS.Timeout;
  onEnded: Array<() => void>;
}

const CHANNEL_OPTIONS: ChannelOptions = {
  // A coordinator that vanishes without closing the TCP connection is noticed by keepalive pings.
  "grpc.keepalive_time_ms": 20_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
};

export class CoordinatorConnection {
  private readonly backoffStartMs: number;
  private readonly backoffCapMs: number;
  private readonly registerTimeoutMs: number;
  private readonly defaultHeartbeatMs: number;
  private backoffMs: number;
  private nextAddress = 0;
  private session: Session | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly addresses: readonly string[],
    private readonly handlers: ConnectionHandlers,
    options: ConnectionOptions = {},
  ) {
    if (addresses.length === 0) throw new Error("no coordinator address to connect to");
    this.backoffStartMs = options.backoffStartMs ?? 100;
    this.backoffCapMs = options.backoffCapMs ?? 2000;
    this.registerTimeoutMs = options.registerTimeoutMs ?? 10_000;
    this.defaultHeartbeatMs = options.defaultHeartbeatMs ?? 5000;
    this.backoffMs = this.backoffStartMs;
  }

  get state(): ConnectionState {
    if (this.closed) return "closed";
    if (!this.session) return "backing_off";
    return this.session.registered ? "registered" : "connecting";
  }

  get registered(): boolean {
    return this.session?.registered === true;
  }

  /** The address of the current stream, if any. */
  get address(): string | undefined {
    return this.session?.address;
  }

  start(): void {
    if (!this.closed && !this.session && !this.reconnectTimer) this.connect();
  }

  /** Writes on the current stream; false when there is none (the message is dropped). */
  send(message: WorkerMessage): boolean {
    const s = this.session;
    if (!s || s.ended) return false;
    s.call.write(message);
    return true;
  }

  /** Half-closes the stream and waits (bounded) for the coordinator to end it; no reconnect. */
  async close(waitMs = 1000): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const s = this.session;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.onEnded.push(resolve);
      const timer = setTimeout(() => this.endSession(s, undefined), waitMs);
      s.onEnded.push(() => clearTimeout(timer));
      s.call.end();
    });
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    const address = this.addresses[this.nextAddress % this.addresses.length]!;
    this.nextAddress = (this.nextAddress + 1) % this.addresses.length;
    const client = new WorkerServiceClient(address, credentials.createInsecure(), CHANNEL_OPTIONS);
    const call = client.connect();
    const s: Session = { address, client, call, registered: false, ended: false, onEnded: [] };
    this.session = s;
    call.on("data", (m: CoordinatorMessage) => this.onMessage(s, m));
    call.on("error", (e: Error) => this.endSession(s, e));
    call.on("end", () => this.endSession(s, undefined));
    s.registerTimer = setTimeout(
      () => this.endSession(s, new Error(`coordinator ${address} did not answer Register within ${this.registerTimeoutMs} ms`)),
      this.registerTimeoutMs,
    );
    call.write({ msg: { $case: "register", register: this.handlers.register() } });
  }

  private onMessage(s: Session, m: CoordinatorMessage): void {
    if (s.ended || !m.msg) return;
    switch (m.msg.$case) {
      case "registered": {
        const r = m.msg.registered;
        if (s.registerTimer) clearTimeout(s.registerTimer);
        s.registerTimer = undefined;
        s.registered = true;
        this.backoffMs = this.backoffStartMs;
        if (s.heartbeatTimer) clearInterval(s.heartbeatTimer);
        const every = r.heartbeatIntervalMs > 0 ? r.heartbeatIntervalMs : this.defaultHeartbeatMs;
        s.heartbeatTimer = setInterval(() => {
          if (!s.ended) s.call.write({ msg: { $case: "heartbeat", heartbeat: this.handlers.heartbeat() } });
        }, every);
        this.handlers.onRegistered(r, s.address);
        return;
      }
      case "assignments":
        this.handlers.onAssignments(m.msg.assignments.assignments);
        return;
      case "cancel":
        this.handlers.onCancel(m.msg.cancel);
        return;
      case "ack":
        this.handlers.onAck(m.msg.ack.seq);
        return;
      default: {
        const never: never = m.msg;
        void never;
      }
    }
  }

  private endSession(s: Session, error: Error | undefined): void {
    if (s.ended) return;
    s.ended = true;
    if (s.registerTimer) clearTimeout(s.registerTimer);
    if (s.heartbeatTimer) clearInterval(s.heartbeatTimer);
    s.call.removeAllListeners("data");
    s.call.on("error", () => {}); // a late error of a dead stream is no news
    s.call.cancel();
    s.client.close();
    if (this.session === s) this.session = undefined;
    for (const f of s.onEnded) f();
    this.handlers.onDisconnected(s.address, error, s.registered);
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.backoffCapMs);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
