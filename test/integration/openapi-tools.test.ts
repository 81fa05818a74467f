/**
 * The served OpenAPI document is accepted by the tools people feed it to: Redocly's linter
 * (recommended rules: no errors) and openapi-typescript, whose generated types keep what the API
 * requires (creating a key without `name` does not compile). Both run offline from node_modules.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import ts from 'typescript';
import { createTestApp, type TestApp } from '../helpers/app';
import { tempDir } from '../helpers/databases';

const run = promisify(execFile);
const bin = (name: string) => path.join(__dirname, '../../node_modules/.bin', name);
// No telemetry, no update check: the tools must not need the network.
const offline = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };

let t: TestApp;
let dir: string;
let docPath: string;
let doc: any;

beforeAll(async () => {
  t = await createTestApp('sqlite');
  dir = tempDir();
  const res = await request(t.app).get('/api/openapi.json');
  doc = res.body;
  docPath = path.join(dir, 'openapi.json');
  fs.writeFileSync(docPath, JSON.stringify(doc));
});
afterAll(() => t.close());

describe('the OpenAPI document', () => {
  it('names a server and gives every operation a unique camelCase operationId', () => {
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    const ids: string[] = [];
    for (const [route, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        expect({ route, method, operationId: op.operationId }).toEqual({ route, method, operationId: expect.stringMatching(/^[a-z][A-Za-z0-9]*$/) });
        ids.push(op.operationId);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['retrieveModel', 'createResponse', 'verifyKey', 'settleKeyVerification']));
  });

  it('documents streamed answers as text/event-stream strings', () => {
    for (const route of ['/api/v1/chat/completions', '/api/v1/responses']) {
      expect(doc.paths[route].post.responses['200'].content['text/event-stream'].schema).toMatchObject({ type: 'string' });
    }
  });

  it('passes `redocly lint --extends=recommended` with no errors', async () => {
    const { stdout } = await run(bin('redocly'), ['lint', '--extends=recommended', '--format=json', docPath], { env: offline, cwd: dir, timeout: 60_000 }).catch(
      (error: { stdout?: string; stderr?: string }) => {
        throw new Error(`redocly lint failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
      },
    );
    const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { totals: { errors: number }; problems: { ruleId: string; severity: string; location: { pointer: string }[] }[] };
    expect(report.totals.errors).toBe(0);
    // The only warnings, both deliberate: GET /api/openapi.json cannot fail (no 4XX to list), and
    // OpenAPI 3.1 cannot type the events of a text/event-stream body, so ChatCompletionChunk is
    // named by an `x-event-data` extension that the unused-components rule does not follow.
    const warnings = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`);
    expect(warnings.sort()).toEqual(['no-unused-components #/components/schemas/ChatCompletionChunk', 'operation-4xx-response #/paths/~1api~1openapi.json/get/responses']);
  });

  it('generates openapi-typescript types in which creating a key needs a name', async () => {
    const typesPath = path.join(dir, 'api.d.ts');
    await run(bin('openapi-typescript'), [docPath, '-o', typesPath], { env: offline, cwd: dir, timeout: 60_000 });
    const checkPath = path.join(dir, 'check.ts');
    fs.writeFileSync(
      checkPath,
      [
        "import type { paths } from './api';",
        "type CreateBody = paths['/api/v1/keys']['post']['requestBody']['content']['application/json'];",
        "type ResponseBody = paths['/api/v1/responses']['post']['responses']['200']['content']['application/json'];",
        "export const ok: CreateBody = { name: 'ci', scopes: ['api'] };",
        '// @ts-expect-error name is required',
        "export const nameless: CreateBody = { scopes: ['api'] };",
        "export const tokens = (r: ResponseBody): number | undefined => r.usage?.total_tokens;",
        '',
      ].join('\n'),
    );
    const program = ts.createProgram([checkPath], { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(problems).toEqual([]);

    // The check can fail: without the expect-error line the nameless key is a type error.
    fs.writeFileSync(checkPath, fs.readFileSync(checkPath, 'utf8').replace('// @ts-expect-error name is required\n', ''));
    const again = ts.createProgram([checkPath], { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS });
    expect(ts.getPreEmitDiagnostics(again).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n')).toMatch(/name/);
  }, 60_000);
});
