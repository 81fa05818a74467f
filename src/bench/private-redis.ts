/**
 * A private redis-server for a benchmark: on a free port, nothing kept on disk, answering before
 * this resolves. `launcher` runs it under another program (e.g. valgrind).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

export interface PrivateRedis {
  url: string;
  port: number;
  /** The process started (the launcher's, when there is one). */
  process: ChildProcess;
  stop(): void;
}

export async function startPrivateRedis(launcher: string[] = []): Promise<PrivateRedis> {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const command = [...launcher, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const server = spawn(command[0], command.slice(1), { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    server.once('error', () => reject(new Error(`${command[0]} could not be started: is it on the PATH?`)));
    const poll = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => setTimeout(poll, 50));
    };
    poll();
  });
  return { url: `redis://127.0.0.1:${port}`, port, process: server, stop: () => server.kill('SIGKILL') };
}
