import fs from 'node:fs';
import { loadDatamodel, schemaPath } from '../helpers/prisma-model';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { toSqliteSchema } = require('../../scripts/sync-schema.js') as { toSqliteSchema: (source: string) => string };

function withoutNativeTypes(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (key, v) => (key === 'nativeType' ? null : v)));
}

describe('one source of truth for the two Prisma schemas', () => {
  it('the committed SQLite schema is exactly what `npm run db:schema` derives from the PostgreSQL one', () => {
    const derived = toSqliteSchema(fs.readFileSync(schemaPath('postgresql'), 'utf8'));
    expect(fs.readFileSync(schemaPath('sqlite'), 'utf8')).toBe(derived);
  });

  it('the two data models differ in nothing but native types', async () => {
    const [postgres, sqlite] = await Promise.all([loadDatamodel('postgresql'), loadDatamodel('sqlite')]);
    expect(withoutNativeTypes(sqlite)).toEqual(withoutNativeTypes(postgres));
  });

  it('the derivation changes only provider, client output and @db attributes', () => {
    const source = fs.readFileSync(schemaPath('postgresql'), 'utf8');
    const derived = toSqliteSchema(source);
    const normalise = (text: string) =>
      text
        .replace(/^\/\/ GENERATED.*\n/, '')
        .replace(/provider\s*=\s*"(postgresql|sqlite)"/, 'provider = "<db>"')
        .replace(/src\/generated\/(postgresql|sqlite)/, 'src/generated/<db>')
        .replace(/[ \t]+@db\.\w+(\([^)]*\))?/g, '');
    expect(normalise(derived)).toBe(normalise(source));
    const code = derived.split('\n').filter((line) => !line.trim().startsWith('//'));
    expect(code.join('\n')).not.toMatch(/@db\./);
    expect(source).toMatch(/^\s+\w+\s+DateTime.*@db\.Timestamptz/m);
    expect(derived).toMatch(/provider = "sqlite"/);
  });
});
