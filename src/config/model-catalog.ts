/**
 * The model catalog: which models /api/v1 serves and what they cost. The built-in catalog
 * (src/config/models.json) has models answered by Keyward's deterministic local provider, so the
 * app works offline. MODEL_CATALOG_PATH replaces it with a file of the same shape, in which a
 * model may instead name an OpenAI-compatible upstream and the environment variable holding its key:
 *
 *   { "models": [ { "id": "gpt-4o-mini", "ownedBy": "openai", "created": 1721172741,
 *       "inputCentsPerMillion": 15, "outputCentsPerMillion": 60, "maxOutputTokens": 16384,
 *       "upstream": { "baseUrl": "https://api.openai.com/v1", "apiKeyEnv": "OPENAI_API_KEY", "model": "gpt-4o-mini" } } ] }
 */
import fs from 'node:fs';
import { z } from 'zod';
import builtIn from './models.json';

export interface UpstreamTarget {
  /** OpenAI-compatible base URL, without a trailing slash (requests go to `${baseUrl}/chat/completions`). */
  baseUrl: string;
  /** The upstream key, read from the variable the catalog names; null when the upstream needs none. */
  apiKey: string | null;
  /** The model name upstream. */
  model: string;
}

export interface CatalogModel {
  id: string;
  ownedBy: string;
  /** Unix seconds, as OpenAI's model objects have it. */
  created: number;
  inputCentsPerMillion: number;
  outputCentsPerMillion: number;
  maxOutputTokens: number;
  /** Absent: answered by the local provider. */
  upstream: UpstreamTarget | null;
}

const price = z.number({ error: 'must be a number' }).min(0, 'must not be negative');

const catalogSchema = z.strictObject({
  models: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/, 'must be 1-100 letters, digits or . _ : / -'),
        ownedBy: z.string().min(1).max(100),
        created: z.number().int().min(0),
        inputCentsPerMillion: price,
        outputCentsPerMillion: price,
        maxOutputTokens: z.number().int().min(1).max(1_000_000),
        upstream: z
          .strictObject({
            baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
            apiKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name').optional(),
            model: z.string().min(1).optional(),
          })
          .optional(),
      }),
    )
    .min(1, 'must list at least one model'),
});

/** Loads the catalog (built-in, or the file at `path`); upstream keys are read from `env`. */
export function loadModelCatalog(path: string | undefined, env: NodeJS.ProcessEnv): { models?: CatalogModel[]; problems: string[] } {
  let raw: unknown = builtIn;
  if (path) {
    try {
      raw = JSON.parse(fs.readFileSync(path, 'utf8'));
    } catch (error) {
      return { problems: [`MODEL_CATALOG_PATH: cannot read ${path} as JSON (${(error as Error).message}).`] };
    }
  }
  const parsed = catalogSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.map((i) => `MODEL_CATALOG_PATH: ${['models', ...i.path.slice(1)].join('.')} ${i.message}.`),
    };
  }
  const problems: string[] = [];
  const ids = new Set<string>();
  const models = parsed.data.models.map((m) => {
    if (ids.has(m.id)) problems.push(`MODEL_CATALOG_PATH: model "${m.id}" is listed twice.`);
    ids.add(m.id);
    let upstream: UpstreamTarget | null = null;
    if (m.upstream) {
      const apiKey = m.upstream.apiKeyEnv ? env[m.upstream.apiKeyEnv] : undefined;
      if (m.upstream.apiKeyEnv && !apiKey) {
        problems.push(`${m.upstream.apiKeyEnv} is not set: model "${m.id}" needs it as its upstream API key.`);
      }
      upstream = { baseUrl: m.upstream.baseUrl.replace(/\/+$/, ''), apiKey: apiKey ?? null, model: m.upstream.model ?? m.id };
    }
    return { ...m, upstream };
  });
  return { models, problems };
}
