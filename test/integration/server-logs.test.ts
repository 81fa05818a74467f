/**
 * What a running server (dist/server.js) writes: one JSON access-log line per request with the
 * guard's key id and outcome and no secret anywhere, every stdout line JSON (start messages and
 * startup failures included), and pino-pretty's output with LOG_FORMAT=pretty.
 */
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { tempDir } from '../helpers/databases';
import { freePort, runCli, runCommand, SERVER, startServer } from '../helpers/processes';

const ADMIN_PASSWORD = 'admin password that must never be logged';

interface Expected {
  requestId: string;
  method: string;
  route: string;
  path: string;
  status: number;
  keyId: string | null;
  outcome: string | null;
}

/** Every stdout line, parsed; fails on a line that is not a JSON object. */
function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
      expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
      return parsed as Record<string, unknown>;
    });
}

describe('a server at LOG_LEVEL=info', () => {
  it('writes one JSON access-log line per request, with key id and outcome, and no secret anywhere', async () => {
    const cwd = tempDir();
    const env = { LOG_LEVEL: 'info', ADMIN_PASSWORD };
    const server = await startServer({ cwd, port: await freePort(), env });
    const create = async (args: string[]) => JSON.parse((await runCli(['keys', 'create', '--tenant', 'default', '--json', ...args], { cwd, env })).stdout) as { id: string; key: string };
    const apiKey = await create(['--name', 'app', '--allowed-models', 'local-small']);
    const admin = await create(['--name', 'ops', '--scopes', 'admin']);
    const wrongSecret = generateKey('kw', apiKey.id).key;

    const expected: Expected[] = [];
    const secrets = [apiKey.key, apiKey.key.slice(apiKey.key.lastIndexOf('_') + 1), admin.key, wrongSecret, ADMIN_PASSWORD, 'cookie-secret-value', 'query-secret-value', 'body-secret-value'];
    const call = async (path: string, init: RequestInit, want: Omit<Expected, 'requestId' | 'path' | 'method'>) => {
      const res = await fetch(`${server.url}${path}`, init);
      for (const cookie of res.headers.getSetCookie()) secrets.push(cookie.split(';')[0].split('=')[1]);
      await res.arrayBuffer();
      expect({ path, status: res.status }).toEqual({ path, status: want.status });
      expected.push({ requestId: res.headers.get('x-request-id') ?? '', method: init.method ?? 'GET', path: path.split('?')[0], ...want });
    };
    const json = (key: string, body: unknown): RequestInit => ({
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

    // The key in both headers, a session cookie, a key and a token in the query string.
    await call(
      `/api/v1/models?api_key=${apiKey.key}&token=query-secret-value`,
      { headers: { authorization: `Bearer ${apiKey.key}`, 'x-api-key': apiKey.key, cookie: 'keyward.sid=cookie-secret-value' } },
      { route: '/api/v1/models', status: 200, keyId: apiKey.id, outcome: 'ok' },
    );
    const messages = [{ role: 'user', content: 'body-secret-value' }];
    await call('/api/v1/chat/completions', json(apiKey.key, { model: 'local-large', messages }), {
      route: '/api/v1/chat/completions',
      status: 403,
      keyId: apiKey.id,
      outcome: 'model_not_allowed',
    });
    await call('/api/v1/chat/completions', json(apiKey.key, { model: 'local-small', messages, max_tokens: -1 }), {
      route: '/api/v1/chat/completions',
      status: 400,
      keyId: apiKey.id,
      outcome: 'invalid_request',
    });
    await call('/api/v1/models', { headers: { 'x-api-key': wrongSecret } }, { route: '/api/v1/models', status: 401, keyId: apiKey.id, outcome: 'invalid_api_key' });
    await call('/api/v1/models', {}, { route: '/api/v1/models', status: 401, keyId: null, outcome: null });
    await call('/api/v1/keys/AbCd1234EfGh', { headers: { authorization: `Bearer ${admin.key}` } }, { route: '/api/v1/keys/:id', status: 404, keyId: admin.id, outcome: 'failed' });
    await call('/login', { headers: { 'x-request-id': 'caller-chosen-id' } }, { route: '/login', status: 200, keyId: null, outcome: null });
    await call('/no/such/page', {}, { route: 'unmatched', status: 404, keyId: null, outcome: null });
    // Polled by load balancers and Prometheus: not at info.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);

    expect(await server.stop()).toBe(0);
    const lines = jsonLines(server.stdout());
    const access = lines.filter((line) => 'route' in line);
    expect(access).toHaveLength(expected.length);
    expect(expected.find((e) => e.route === '/login')?.requestId).toBe('caller-chosen-id');
    for (const want of expected) {
      const line = access.find((l) => l.requestId === want.requestId);
      expect(line).toEqual({ level: 30, time: expect.any(Number), app: 'keyward', ...want, latencyMs: expect.any(Number), msg: 'request completed' });
    }
    const everything = server.output();
    for (const secret of secrets) expect({ secret, found: everything.includes(secret) }).toEqual({ secret, found: false });
    expect(everything).not.toMatch(/healthz|"path":"\/metrics"/);
  });
});

describe('what dist/server.js writes on stdout', () => {
  it('JSON lines only with LOG_FORMAT unset: start messages (the generated password in a field of its own line), requests, the stop', async () => {
    const cwd = tempDir();
    const server = await startServer({ cwd, port: await freePort(), env: { LOG_LEVEL: 'info' } });
    await fetch(`${server.url}/api/v1/models`);
    expect(await server.stop()).toBe(0);
    const lines = jsonLines(server.stdout());
    const messages = lines.map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(['applied migration 20261122000000_init', 'request completed', 'stopped: requests finished, usage written, connections closed']));
    const passwordLines = lines.filter((line) => 'generatedAdminPassword' in line);
    expect(passwordLines).toHaveLength(1);
    expect(passwordLines[0]).toMatchObject({ email: 'admin@keyward.local', generatedAdminPassword: expect.stringMatching(/^\S{20,}$/) });
    expect(server.stdout().split(passwordLines[0].generatedAdminPassword as string)).toHaveLength(2);
  });

  it('pino-pretty lines with LOG_FORMAT=pretty', async () => {
    const cwd = tempDir();
    const server = await startServer({ cwd, port: await freePort(), env: { LOG_LEVEL: 'info', LOG_FORMAT: 'pretty' } });
    await fetch(`${server.url}/api/v1/models`);
    expect(await server.stop()).toBe(0);
    const stdout = server.stdout();
    expect(stdout).toMatch(/INFO.*: applied migration 20261122000000_init/);
    expect(stdout).toMatch(/generatedAdminPassword: "\S{20,}"/);
    expect(stdout).toMatch(/INFO.*: request completed GET \/api\/v1\/models 401\n(\s+\w+: .*\n)*\s+route: "\/api\/v1\/models"/);
    expect(stdout).toMatch(/stopped: requests finished, usage written, connections closed/);
    expect(stdout.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
  });

  it('a startup failure is a JSON line too, naming the variable', async () => {
    const result = await runCommand(process.execPath, [SERVER], { cwd: tempDir(), env: { PORT: 'not-a-port' } });
    expect(result.code).toBe(1);
    const [line, ...rest] = jsonLines(result.stdout);
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 60, problems: [expect.stringMatching(/^PORT must be a port number/)] });
  });
});
