import type { Response } from 'express';

/**
 * True once the response can no longer be delivered: the connection closed (the client left, or the
 * response was destroyed) before the response was complete.
 */
export function clientLeft(res: Response): boolean {
  // The plain fields first: writableFinished is a getter that asks the socket, and most responses are open.
  return (res.destroyed || (res as { closed?: boolean }).closed === true) && !res.writableFinished;
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
  // 'close' is emitted once per response (a response is never reused), so a plain listener does:
  // once() would wrap it and remove it again, on every request.
  res.on('close', listener);
}
