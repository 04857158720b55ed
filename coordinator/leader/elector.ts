// Leader election: holding a session advisory lock on one dedicated connection (never from the
// pool) is being leader. Losing that connection is losing leadership at once.
import { EventEmitter } from "node:events";
import pg from "pg";
import { bumpTerm } from "../sql/term.js";

export const LEADER_LOCK_KEY = 0x62746e6c6472; // "btnldr"

export interface ElectorEvents {
  elected: [term: number];
  deposed: [reason: string];
}

export class Elector extends EventEmitter<ElectorEvents> {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private term: number | undefined;
  private busy = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly coordinatorId: string,
    private readonly intervalMs: number,
  ) {
    super();
  }

  get isLeader(): boolean {
    return this.term !== undefined;
  }

  get currentTerm(): number | undefined {
    return this.term;
  }

  start(): void {
    void this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.lose("coordinator stopping");
    // Closing the session releases the advisory lock for the next leader.
    await client?.end().catch(() => {});
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
  }

  private lose(reason: string): void {
    if (this.term === undefined) return;
    this.term = undefined;
    this.emit("deposed", reason);
  }

  /** One round: connect if needed; as leader, check the connection is alive; else try the lock. */
  private async tick(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    try {
      const client = await this.connection();
      if (this.term !== undefined) {
        await client.query("SELECT 1");
      } else {
        const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [LEADER_LOCK_KEY]);
        if (rows[0]!.ok && !this.stopped) {
          this.term = await bumpTerm(client, this.coordinatorId);
          this.emit("elected", this.term);
        }
      }
    } catch (err) {
      this.dropConnection(`leader connection failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
      this.schedule();
    }
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: "baton-leader-lock",
      keepAlive: true,
    });
    client.on("error", (err) => this.dropConnection(`leader connection error: ${err.message}`));
    client.on("end", () => {
      if (this.client === client) this.dropConnection("leader connection closed");
    });
    this.client = client;
    await client.connect();
    return client;
  }

  private dropConnection(reason: string): void {
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => {});
    this.lose(reason);
  }
}
