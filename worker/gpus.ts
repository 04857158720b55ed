// GPUs: found once at start with nvidia-smi, then handed to jobs by index (CUDA_VISIBLE_DEVICES),
// each to one job at a time.
import { execFile } from "node:child_process";

export interface Gpu {
  /** What CUDA_VISIBLE_DEVICES names. */
  index: number;
  uuid: string;
}

/** `nvidia-smi --query-gpu=index,uuid --format=csv,noheader` output → GPUs in index order. */
export function parseNvidiaSmi(csv: string): Gpu[] {
  const gpus: Gpu[] = [];
  for (const line of csv.split("\n")) {
    const [index, uuid] = line.split(",").map((s) => s.trim());
    if (index === undefined || uuid === undefined || !/^\d+$/.test(index) || uuid === "") continue;
    gpus.push({ index: Number(index), uuid });
  }
  return gpus.sort((a, b) => a.index - b.index);
}

export interface DetectedGpus {
  gpus: Gpu[];
  /** Set when nvidia-smi is there but failed: worth a log line. */
  problem?: string;
}

/** Runs nvidia-smi from PATH; no nvidia-smi means no GPUs. */
export function detectGpus(timeoutMs = 10_000): Promise<DetectedGpus> {
  return new Promise((resolve) => {
    execFile("nvidia-smi", ["--query-gpu=index,uuid", "--format=csv,noheader"], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return resolve({ gpus: [] });
        return resolve({ gpus: [], problem: `nvidia-smi failed (${String(stderr).trim() || err.message}): no GPUs offered` });
      }
      resolve({ gpus: parseNvidiaSmi(String(stdout)) });
    });
  });
}

/**
 * The GPUs this worker offers: those found, or `count` of them when --gpus says so (0 offers none;
 * more than were found offers indices 0..count-1, for GPUs nvidia-smi cannot see).
 */
export function offeredGpus(found: Gpu[], count: number | undefined): Gpu[] {
  if (count === undefined) return found;
  if (count <= found.length) return found.slice(0, count);
  const out = [...found];
  for (let i = 0; out.length < count; i++) if (!out.some((g) => g.index === i)) out.push({ index: i, uuid: "" });
  return out.sort((a, b) => a.index - b.index);
}

/** Which GPU indices are free; every grant is given back when its attempt ends. */
export class GpuPool {
  private readonly free: number[];

  constructor(readonly gpus: readonly Gpu[]) {
    this.free = gpus.map((g) => g.index);
  }

  get size(): number {
    return this.gpus.length;
  }

  get freeCount(): number {
    return this.free.length;
  }

  /** `count` free indices (lowest first), or undefined when fewer are free. */
  take(count: number): number[] | undefined {
    if (count > this.free.length) return undefined;
    this.free.sort((a, b) => a - b);
    return this.free.splice(0, count);
  }

  give(indices: readonly number[]): void {
    for (const i of indices) if (!this.free.includes(i)) this.free.push(i);
  }
}
