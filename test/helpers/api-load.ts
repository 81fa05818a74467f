/** Client loops calling a real server's /api, for the tests that stop or pause it under load. */
import type { ServerProcess } from './processes';

const CHAT = { model: 'local-small', max_tokens: 8, messages: [{ role: 'user', content: 'count me' }] };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ApiLoad {
  /** When each 200 arrived (ms). */
  seen: number[];
  /** The status of every other answer. */
  refused: number[];
  /** Stops the loops and waits for the requests in flight. */
  stop(): Promise<void>;
}

/**
 * `workers` loops, each calling chat completions (and, with `alternateModels`, GET /models every
 * other request) with the keys in turn until stopped. A request that fails (the process is gone:
 * connections refused or reset) is retried after 5 ms.
 */
export function apiLoad(server: ServerProcess, keys: string[], options: { workers: number; timeoutMs: number; alternateModels?: boolean }): ApiLoad {
  const seen: number[] = [];
  const refused: number[] = [];
  let running = true;
  const loop = async (worker: number) => {
    for (let i = 0; running; i++) {
      const chat = !options.alternateModels || i % 2 === 0;
      try {
        const res = await fetch(`${server.url}/api/v1/${chat ? 'chat/completions' : 'models'}`, {
          method: chat ? 'POST' : 'GET',
          headers: { authorization: `Bearer ${keys[(worker + i) % keys.length]}`, 'content-type': 'application/json' },
          body: chat ? JSON.stringify(CHAT) : undefined,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        await res.text();
        if (res.status === 200) seen.push(Date.now());
        else refused.push(res.status);
      } catch {
        await sleep(5);
      }
    }
  };
  const loops = Array.from({ length: options.workers }, (_, i) => loop(i));
  return {
    seen,
    refused,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** The JSON log lines a server wrote with `message` (its `msg`), parsed. */
export function loggedEntries<T>(server: ServerProcess, message: string): T[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.includes(`"${message}"`))
    .map((line) => JSON.parse(line) as T);
}
