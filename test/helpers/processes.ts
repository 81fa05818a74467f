/** Runs the compiled app (dist/, built by global setup) as real child processes. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');
export const SERVER = path.join(ROOT, 'dist', 'server.js');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** An environment for a child: PATH only, plus what the test gives (nothing leaks in from ours). */
export function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...extra };
}

/** Runs a command to completion with an environment of its own (`childEnv`), stdin closed after `input`. */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string | undefined>; input?: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: childEnv(options.env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the CLI to completion. */
export function runCli(args: string[], options: { cwd: string; env: Record<string, string | undefined>; input?: string }): Promise<RunResult> {
  return runCommand(process.execPath, [CLI, ...args], options);
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** stdout and stderr, as they came. */
  output(): string;
  /** stdout alone. */
  stdout(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts dist/server.js and resolves once /healthz answers. */
export async function startServer(options: { cwd: string; env: Record<string, string | undefined>; port: number }): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVER], {
    cwd: options.cwd,
    env: childEnv({ PORT: String(options.port), HOST: '127.0.0.1', ...options.env }),
  });
  let output = '';
  let stdout = '';
  child.stdout?.on('data', (d) => {
    output += d;
    stdout += d;
  });
  child.stderr?.on('data', (d) => (output += d));
  // 'close': the exit code, once stdout and stderr are read to their end.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not become healthy:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    port: options.port,
    url,
    output: () => output,
    stdout: () => stdout,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The cookies a response set that a browser would send back to the dashboard (name=value; ...). */
export function dashboardCookies(res: Response): string {
  return (
    (res.headers.getSetCookie?.() ?? [])
      .map((c) => c.split(';')[0])
      // The session cookie, and the sign-in form's cookie its CSRF token is bound to.
      .filter((c) => c.includes('keyward.sid') || c.includes('keyward.login'))
      .join('; ')
  );
}

/** Signs in on a running server through the login form, as a browser does; the status and session cookie. */
export async function signInOn(server: { url: string }, email: string, password: string): Promise<{ status: number; cookie: string }> {
  const loginPage = await fetch(`${server.url}/login`);
  const csrf = /name="_csrf"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="_csrf"/.exec(await loginPage.text());
  if (!csrf) throw new Error('no CSRF field on the login page');
  const res = await fetch(`${server.url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: dashboardCookies(loginPage) },
    body: new URLSearchParams({ email, password, _csrf: csrf[1] ?? csrf[2] }),
  });
  return { status: res.status, cookie: dashboardCookies(res) };
}
