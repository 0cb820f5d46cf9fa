// A stop asked of a command while it works: SIGINT (Ctrl-C), SIGTERM (cron, systemd, kill) or
// SIGHUP (a dropped ssh session). The command's work watches `signal`; `caught` says which
// signal came, for the message and the exit code (130/143/129, main.ts). Without this, node's
// default action would end batt at once, before it removed what it had half done.
import { setMaxListeners } from 'node:events';

export const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface Stop {
  readonly signal: AbortSignal;
  /** The first stop signal received, if any. */
  readonly caught: NodeJS.Signals | undefined;
  /** Stops listening (node's default action applies again). */
  dispose(): void;
}

/** Listens for the stop signals until dispose(); `onStop` runs once, at the first one. */
export function listenForStop(onStop?: (sig: NodeJS.Signals) => void): Stop {
  const controller = new AbortController();
  // One stop reaches all the work in flight at once: every S3 part being sent (QUEUE_SIZE), every
  // job, the connections and downloads each add a listener while they run and remove it after.
  // node's default of 10 would print a MaxListenersExceededWarning to stderr (e.g. QUEUE_SIZE=8).
  setMaxListeners(0, controller.signal);
  let caught: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (caught) return;
    caught = sig;
    onStop?.(sig);
    controller.abort();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  return {
    signal: controller.signal,
    get caught() {
      return caught;
    },
    dispose() {
      for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    },
  };
}
