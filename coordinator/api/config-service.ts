// ConfigService: read the settings this coordinator applies; store or reset a value for the whole
// cluster. Writes are checked (type, range, rules between settings) before they are stored, and
// this coordinator re-reads before answering, so a Get after a Set here shows the new value.
import type pg from "pg";
import type { ConfigServiceServer, ConfigSetting } from "../../shared/gen/baton/v1/config.js";
import type { EffectiveSetting, LiveConfig } from "../config/live-config.js";
import {
  crossCheck,
  effectiveValues,
  InvalidSettingError,
  parseSettingText,
  SETTINGS,
  settingKey,
  validateSetting,
  type SettingKey,
} from "../config/settings.js";
import { withTransaction } from "../db/pool.js";
import { deleteSetting, lockClusterConfig, readStoredSettings, storeSetting } from "../sql/cluster-config.js";
import { unary } from "./grpc-errors.js";

export function configService(pool: pg.Pool, live: LiveConfig, coordinatorId: string): ConfigServiceServer {
  const toWire = (s: EffectiveSetting): ConfigSetting => ({
    key: s.key,
    value: JSON.stringify(s.value),
    source: s.source,
    defaultValue: JSON.stringify(s.defaultValue),
    type: SETTINGS[s.key].type,
    description: SETTINGS[s.key].description,
    updatedAtMs: s.updatedAt?.getTime() ?? 0,
    updatedBy: s.updatedBy ?? "",
  });
  const current = (key: SettingKey) => toWire(live.list().find((s) => s.key === key)!);

  /** Stores (value) or removes (undefined) one key, after checking the rules against what would result. */
  const write = async (key: SettingKey, value: unknown, updatedBy: string) => {
    await withTransaction(pool, async (tx) => {
      await lockClusterConfig(tx);
      const stored = new Map((await readStoredSettings(tx)).map((r) => [r.key, r.value]));
      if (value === undefined) stored.delete(key);
      else stored.set(key, value);
      const problems = crossCheck(effectiveValues(live.defaults, stored));
      if (problems.length > 0) throw new InvalidSettingError(problems.join("; "));
      if (value === undefined) await deleteSetting(tx, key);
      else await storeSetting(tx, key, value, updatedBy);
    });
    await live.refresh();
  };

  return {
    getConfig: unary(async (req) => {
      const key = req.key ? settingKey(req.key) : undefined;
      return { settings: live.list().filter((s) => key === undefined || s.key === key).map(toWire) };
    }),

    setConfig: unary(async (req) => {
      const key = settingKey(req.key);
      if (req.value.trim() === "") throw new InvalidSettingError(`${key} needs a value (${SETTINGS[key].type}); to go back to the default, reset it`);
      const value = validateSetting(key, parseSettingText(req.value));
      await write(key, value, `${req.updatedBy || "unknown"} via ${coordinatorId}`);
      return current(key);
    }),

    resetConfig: unary(async (req) => {
      const key = settingKey(req.key);
      await write(key, undefined, "");
      return current(key);
    }),
  };
}
