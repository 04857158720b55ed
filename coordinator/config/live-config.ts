// This coordinator's view of the cluster settings: its defaults (flags/env) overridden by the values
// stored in cluster_config. Re-read on every baton_config notification, after the listener
// reconnects (notifications may have been missed), and on a slow timer as a safety net.
import type { Queryable } from "../db/pool.js";
import { readStoredSettings, type StoredSetting } from "../sql/cluster-config.js";
import { crossCheck, effectiveValues, SETTING_KEYS, SETTINGS, type SettingKey, type SettingValues } from "./settings.js";

export type SettingSource = "default" | "flag" | "stored";

export interface EffectiveSetting {
  key: SettingKey;
  value: unknown;
  source: SettingSource;
  defaultValue: unknown;
  updatedAt?: Date;
  updatedBy?: string;
}

export type ConfigChangeListener = (key: SettingKey, value: unknown) => void;

export class LiveConfig {
  private values: SettingValues;
  private stored = new Map<string, StoredSetting>();
  private loading: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ConfigChangeListener[] = [];

  constructor(
    private readonly db: Queryable,
    readonly defaults: SettingValues,
    private readonly log: (line: string) => void,
    private readonly refreshMs = 30_000,
  ) {
    this.values = { ...defaults };
  }

  /** Reads the stored values once (a coordinator starts with them applied), then refreshes on a timer. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => this.invalidate(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get<K extends SettingKey>(key: K): SettingValues[K] {
    return this.values[key];
  }

  /** For components that read a setting where they use it: `getter("lease_ms")()`. */
  getter<K extends SettingKey>(key: K): () => SettingValues[K] {
    return () => this.values[key];
  }

  /** Called with each key whose effective value changed on a re-read. */
  onChange(listener: ConfigChangeListener): void {
    this.listeners.push(listener);
  }

  snapshot(): SettingValues {
    return { ...this.values };
  }

  list(): EffectiveSetting[] {
    return SETTING_KEYS.map((key) => {
      const row = this.stored.get(key);
      const applied = row !== undefined && same(this.values[key], row.value);
      const def = this.defaults[key];
      return {
        key,
        value: this.values[key],
        source: applied ? "stored" : same(def, SETTINGS[key].builtin) ? "default" : "flag",
        defaultValue: def,
        updatedAt: applied ? row.updated_at : undefined,
        updatedBy: applied ? row.updated_by : undefined,
      };
    });
  }

  /** A value may have changed (a notification, a reconnect, the timer): re-read in the background. */
  invalidate(): void {
    this.refresh().catch((err: Error) => this.log(`config re-read failed, keeping current values: ${err.message}`));
  }

  /** Resolves after a read that started after this call. Bursts of calls share one read. */
  refresh(): Promise<void> {
    if (!this.loading) {
      this.loading = this.load().finally(() => (this.loading = undefined));
      return this.loading;
    }
    this.queued ??= this.loading
      .catch(() => {})
      .then(() => {
        this.queued = undefined;
        return this.refresh();
      });
    return this.queued;
  }

  private async load(): Promise<void> {
    const rows = await readStoredSettings(this.db);
    const stored = new Map(rows.map((r) => [r.key, r]));
    const next = effectiveValues(this.defaults, new Map(rows.map((r) => [r.key, r.value])), (key, message) =>
      this.log(`config: ignoring the stored value of ${key}: ${message}`),
    );
    for (const problem of crossCheck(next)) this.log(`config: warning: ${problem}`);
    const previous = this.values;
    this.values = next;
    this.stored = stored;
    for (const key of SETTING_KEYS) {
      if (same(previous[key], next[key])) continue;
      const source = stored.has(key) ? "stored" : "default";
      this.log(`config changed: key=${key} value=${JSON.stringify(next[key])} (${source})`);
      for (const l of this.listeners) l(key, next[key]);
    }
  }
}

/** Settings may be objects (a retry policy): compare them as JSON. */
function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
