// Signals to a job's whole process group (the child leads its own group: spawn with detached).

/**
 * Sends `signal` to every process of the group led by `pgid`; false when the group is gone (or
 * cannot be signalled). Never throws: it runs in exit and timer handlers.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

