// A worker played by a test on a real WorkerService stream: it registers as told, records every
// message the coordinator sends, and sends exactly the events the test scripts.
import { credentials, type ClientDuplexStream } from "@grpc/grpc-js";
import { Register, WorkerServiceClient, type CoordinatorMessage, type JobEvent, type WorkerMessage } from "../../shared/gen/baton/v1/worker.js";

export class ScriptedWorker {
  private readonly client: WorkerServiceClient;
  private readonly call: ClientDuplexStream<WorkerMessage, CoordinatorMessage>;
  /** every message received so far, in order */
  readonly received: CoordinatorMessage[] = [];
  private waiters: (() => void)[] = [];
  private seq = 0;

  constructor(address: string, readonly id: string) {
    this.client = new WorkerServiceClient(address, credentials.createInsecure());
    this.call = this.client.connect();
    this.call.on("data", (m: CoordinatorMessage) => {
      this.received.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
    this.call.on("error", () => {});
  }

  send(msg: WorkerMessage["msg"]): void {
    this.call.write({ msg });
  }

  /** Registers (this worker's id, and `fields` over a small default) and waits to be accepted. */
  async register(fields: Partial<Register> = {}): Promise<void> {
    this.send({
      $case: "register",
      register: Register.fromPartial({
        workerId: this.id, name: this.id, capacity: { cpuMillis: 1000, memoryMb: 1024, gpus: 0 }, slots: 100,
        limitsMechanism: "none", version: "test", ...fields,
      }),
    });
    await this.next((m) => (m.msg?.$case === "registered" ? true : undefined));
  }

  /** The first message so far, or to come, that `pick` accepts. */
  async next<T>(pick: (m: CoordinatorMessage) => T | undefined): Promise<T> {
    for (let i = 0; ; ) {
      for (; i < this.received.length; i++) {
        const v = pick(this.received[i]!);
        if (v !== undefined) return v;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Sends one batch and resolves when the coordinator acknowledged it (it is committed then). */
  async events(events: JobEvent[], seq = ++this.seq): Promise<void> {
    this.send({ $case: "events", events: { seq, events } });
    await this.next((m) => (m.msg?.$case === "ack" && m.msg.ack.seq >= seq ? true : undefined));
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}
