// The queue as the leader knows it without reading it (see SchedulerLoop): the jobs of one submit
// to the leader that its insert left pending, in scheduling order, with the content the submit
// gave them. Held as the submit's own rows and an order of their indices: a step builds objects
// only for the head it schedules, so a 20,000-job submit costs no object per job here.
import { compareIds } from "../../shared/scheduling/job-order.js";
import type { SchedJob } from "../../shared/scheduling/types.js";
import type { JobContent } from "../sql/apply-plan.js";
import { contentOf, schedJobOf, type NewJob } from "../sql/insert-jobs.js";

/**
 * Indices of `members` (of one submit's rows) in scheduling order: priority descending, then id.
 * A submit's jobs share their age and draw ids in row order, so ties stay in row order (`members`
 * ascending, and the sort is stable): the order jobOrder gives the same jobs.
 */
export function submitOrder(rows: readonly NewJob[], members: number[]): number[] {
  const first = members.length > 0 ? rows[members[0]!]!.priority : 0;
  if (members.every((i) => rows[i]!.priority === first)) return members;
  return members.sort((a, b) => rows[b]!.priority - rows[a]!.priority);
}

export class KnownQueue {
  /** row indices in scheduling order; the queue is what is not gone from `start` on */
  private readonly order: Int32Array;
  private start = 0;
  /** by row index: not (or no longer) in the queue */
  private readonly gone: Uint8Array;
  private left: number;

  /**
   * @param ids the rows' job ids, ascending (a submit draws them in row order)
   * @param createdAtMs the jobs' age as the scheduler counts it (the submit's clock)
   * @param createdMs the jobs' created_at as stored, epoch ms
   * @param members the rows in the queue, ascending
   */
  constructor(
    private readonly rows: readonly NewJob[],
    private readonly ids: readonly string[],
    private readonly createdAtMs: number,
    private readonly createdMs: number,
    members: number[],
  ) {
    this.order = Int32Array.from(submitOrder(rows, members));
    this.gone = new Uint8Array(rows.length).fill(1);
    for (const i of members) this.gone[i] = 0;
    this.left = members.length;
  }

  get size(): number {
    return this.left;
  }

  /** The first `n` jobs as the scheduler sees them, and their content by id. */
  head(n: number): { jobs: SchedJob[]; content: Map<string, JobContent> } {
    while (this.start < this.order.length && this.gone[this.order[this.start]!] === 1) this.start++;
    const jobs: SchedJob[] = [];
    const content = new Map<string, JobContent>();
    for (let r = this.start; r < this.order.length && jobs.length < n; r++) {
      const i = this.order[r]!;
      if (this.gone[i] === 1) continue;
      const row = this.rows[i]!;
      jobs.push(schedJobOf(this.ids[i]!, row, this.createdAtMs));
      content.set(this.ids[i]!, contentOf(row, this.createdMs));
    }
    return { jobs, content };
  }

  /** These jobs left the queue (placed); ids it does not hold are ignored. */
  remove(ids: readonly string[]): void {
    for (const id of ids) {
      const i = this.indexOf(id);
      if (i === undefined || this.gone[i] === 1) continue;
      this.gone[i] = 1;
      this.left--;
    }
  }

  has(id: string): boolean {
    const i = this.indexOf(id);
    return i !== undefined && this.gone[i] === 0;
  }

  /** The row of a job id: by binary search, since a submit draws ids in row order. */
  private indexOf(id: string): number | undefined {
    let lo = 0;
    let hi = this.ids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareIds(this.ids[mid]!, id);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}
