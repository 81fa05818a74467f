import type { Response } from 'express';

/**
 * Responses holding a budget reservation, and when they must end. One timer sweeps them all
 * (cheaper than a timer per request); an overdue response is destroyed, which closes it, and the
 * close settles its reservation.
 */
export class OverdueResponses {
  private readonly deadlines = new Map<Response, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly now: () => number) {}

  track(res: Response, deadline: number): void {
    this.deadlines.set(res, deadline);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), 1000);
      this.timer.unref();
    }
  }

  forget(res: Response): void {
    this.deadlines.delete(res);
  }

  private sweep(): void {
    const now = this.now();
    for (const [res, deadline] of this.deadlines) {
      if (deadline <= now && !res.writableEnded) res.destroy();
    }
  }
}
