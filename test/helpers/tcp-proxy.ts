/**
 * A TCP proxy for fault tests: it forwards bytes between its clients and a target until paused.
 * `pause()` stops forwarding in both directions while every socket stays open, so both sides see a
 * network partition (no error, no close, just silence); `resume()` delivers what was held back, in
 * order, and forwards again; `close()` ends everything.
 */
import net from 'node:net';

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  port: number;
  /** Stops forwarding without closing anything. */
  pause(): void;
  /** Forwards what was held back, then everything that follows. */
  resume(): void;
  /** Connections currently open through the proxy. */
  connections(): number;
  close(): Promise<void>;
}

interface Pipe {
  client: net.Socket;
  target: net.Socket;
  /** Bytes that arrived while paused, per direction. */
  toTarget: Buffer[];
  toClient: Buffer[];
}

/** Starts a proxy in front of `targetHost:targetPort`. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pipes = new Set<Pipe>();
  let paused = false;

  const server = net.createServer((client) => {
    const target = net.connect(targetPort, targetHost);
    const pipe: Pipe = { client, target, toTarget: [], toClient: [] };
    pipes.add(pipe);
    client.on('data', (data) => (paused ? pipe.toTarget.push(data) : target.write(data)));
    target.on('data', (data) => (paused ? pipe.toClient.push(data) : client.write(data)));
    const end = () => {
      pipes.delete(pipe);
      client.destroy();
      target.destroy();
    };
    // Either side closing or failing closes the other: a real network path does not half-stay.
    for (const socket of [client, target]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });

  return {
    port: (server.address() as net.AddressInfo).port,
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      for (const pipe of pipes) {
        for (const data of pipe.toTarget.splice(0)) pipe.target.write(data);
        for (const data of pipe.toClient.splice(0)) pipe.client.write(data);
      }
    },
    connections: () => pipes.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const pipe of pipes) {
          pipe.client.destroy();
          pipe.target.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
