import type { Queryable } from "../db/pool.js";

export class FencedError extends Error {
  readonly code = "FENCED";
  constructor(readonly ourTerm: number, readonly currentTerm: number) {
    super(`leader term ${ourTerm} is no longer current (term is now ${currentTerm}): this coordinator was deposed`);
  }
}

/** Called by a newly elected leader: bumps the term and records who holds it. */
export async function bumpTerm(db: Queryable, leaderId: string): Promise<number> {
  const { rows } = await db.query<{ term: string }>(
    "UPDATE baton_term SET term = term + 1, leader_id = $1, elected_at = now() WHERE id = 1 RETURNING term",
    [leaderId],
  );
  return Number(rows[0]!.term);
}

/**
 * The fence: inside a leader-only transaction, holds the term row shared so that a new leader's
 * bump waits for this transaction, and throws when the term has already moved on.
 */
export async function assertTerm(tx: Queryable, term: number): Promise<void> {
  const { rows } = await tx.query<{ term: string }>("SELECT term FROM baton_term WHERE id = 1 FOR SHARE");
  const current = Number(rows[0]!.term);
  if (current !== term) throw new FencedError(term, current);
}

export async function readTerm(db: Queryable): Promise<{ term: number; leaderId: string | null }> {
  const { rows } = await db.query<{ term: string; leader_id: string | null }>(
    "SELECT term, leader_id FROM baton_term WHERE id = 1",
  );
  return { term: Number(rows[0]!.term), leaderId: rows[0]!.leader_id };
}
