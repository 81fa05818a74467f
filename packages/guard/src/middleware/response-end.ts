import type { Response } from 'express';

/**
 * True once the response can no longer be delivered: the connection closed (the client left, or the
 * response was destroyed) before the response was complete.
 */
export function clientLeft(res: Response): boolean {
  return !res.writableFinished && (res.destroyed || (res as { closed?: boolean }).closed === true);
}

/**
 * Calls `listener` once when the response is closed, whether it finished or the client left, and
 * also when that already happened: a 'close' listener added after the event never fires, and a
 * client that disconnects while the guard awaits a store is exactly that case.
 */
export function whenClosed(res: Response, listener: () => void): void {
  if (res.destroyed || (res as { closed?: boolean }).closed === true) {
    process.nextTick(listener);
    return;
  }
  res.once('close', listener);
}
