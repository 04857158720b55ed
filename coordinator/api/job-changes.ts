// Job state changes, as announced by every coordinator through NOTIFY, for WatchJob streams here.
import { EventEmitter } from "node:events";

export class JobChanges {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Called with the payload of a baton_job_changed notification (comma-separated ids). */
  announce(payload: string): void {
    if (this.emitter.eventNames().length === 0) return;
    for (const id of payload.split(",")) this.emitter.emit(id);
  }

  /** Announces a change of every job watched here (e.g. notifications may have been missed). */
  announceAll(): void {
    for (const id of this.emitter.eventNames()) this.emitter.emit(id);
  }

  subscribe(id: string, fn: () => void): () => void {
    this.emitter.on(id, fn);
    return () => this.emitter.off(id, fn);
  }
}
