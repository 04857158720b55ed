// One dedicated connection per coordinator that LISTENs on Baton's channels, reconnecting on loss.
import pg from "pg";

export type NotificationHandler = (channel: string, payload: string) => void;

export class Listener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** called after every (re)connect: notifications may have been missed while disconnected */
  onReconnect: () => void = () => {};

  constructor(
    private readonly databaseUrl: string,
    private readonly channels: readonly string[],
    private readonly handler: NotificationHandler,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: "baton-listener", keepAlive: true });
    const lost = () => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => {});
      if (!this.stopped) this.retry = setTimeout(() => void this.connect().catch(() => {}), 250);
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (n) => this.handler(n.channel, n.payload ?? ""));
    this.client = client;
    try {
      await client.connect();
      for (const channel of this.channels) await client.query(`LISTEN ${channel}`);
    } catch (err) {
      lost();
      throw err;
    }
    this.onReconnect();
  }
}
