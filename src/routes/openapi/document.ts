/**
 * The OpenAPI 3.1 document of every /api route, served at GET /api/openapi.json. Its schemas are
 * generated from the same zod schemas that validate requests (key settings, chat requests) and
 * type the presenters, so the document cannot drift from what the routes accept and return.
 */
import { z } from 'zod';
import { keyInputSchema, rotateSchema } from '../../keys/key-input';
import { clientAddressListSchema, requestLogPageSchema, tenantUsageSchema } from '../../presenters/activity-presenter';
import { auditEventSchema } from '../../presenters/audit-presenter';
import { issuedKeySchema, keySchema, pageSchema } from '../../presenters/key-presenter';
import { errorSchema, statsSchema } from '../../presenters/openai-schemas';
import { keyUsageSchema } from '../../presenters/usage-presenter';
import { MAX_USAGE_RANGE_DAYS, USAGE_GROUPS } from '../../usage/tenant-usage';
import { REQUEST_OUTCOMES } from '@keyward/guard';
import { governanceComponents, governancePaths } from './governance-paths';
import { openAiComponents, openAiPaths } from './openai-paths';
import { verifyComponents, verifyPaths } from './verify-paths';
import { webhookComponents, webhookPaths } from './webhook-paths';

type JsonSchema = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** zod schemas to OpenAPI components (no $schema/$id inside components). */
function components(entries: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(entries)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const { $schema: _schema, $id: _id, ...rest } = schema as JsonSchema;
      return [id, rest];
    }),
  );
}

const json = (schema: JsonSchema) => ({ 'application/json': { schema } });

function errors(...statuses: number[]) {
  const describe: Record<number, string> = {
    400: 'Invalid input: `validation_error` (every bad field in `details`), `invalid_json`, `invalid_request`.',
    401: 'No valid key: `missing_api_key`, `invalid_api_key`, `key_revoked`, `key_inactive`, `key_expired`.',
    402: 'The request could push spend over the key\'s budget: `budget_exceeded`.',
    403: 'Not allowed: `ip_not_allowed`, `insufficient_scope` (also: acting on a key holding a scope the calling key lacks), `model_not_allowed`, `chatbot_not_allowed`.',
    404: 'Unknown id, or one of another tenant (`not_found`); unknown model (`model_not_found`).',
    409: 'The key\'s state does not allow this: `invalid_state`.',
    413: 'The body is larger than 2 MB: `payload_too_large`.',
    429: 'A rate-limit window is full (for management routes: the per-key `management` window) or the IP keeps guessing (`rate_limited`, with Retry-After), or the quota is used up (`quota_exceeded`).',
    503: 'Retry later (Retry-After): the limit stores cannot be reached (`limits_unavailable`), keys cannot be looked up (`service_unavailable`), or the database does not answer (`database_unavailable`).',
  };
  return Object.fromEntries(statuses.map((status) => [String(status), { description: describe[status], headers: refusalHeaders, content: json(ref('Error')) }]));
}

const GUARD_ERRORS = [401, 403, 429, 503];

const rateLimitHeaders = {
  'RateLimit-Policy': {
    description: 'Every window of the key, e.g. `"minute";q=10;w=60, "hour";q=100;w=3600`; on management routes the per-key `"management";q=600;w=60`.',
    schema: { type: 'string' },
  },
  RateLimit: { description: 'The most constrained window, e.g. `"minute";r=7;t=42`.', schema: { type: 'string' } },
  'x-ratelimit-limit-requests': { description: 'OpenAI\'s form: the limit of the most constrained request window.', schema: { type: 'string' } },
  'x-ratelimit-remaining-requests': { description: 'Requests left in it.', schema: { type: 'string' } },
  'x-ratelimit-reset-requests': { description: 'When it resets, as OpenAI writes durations (`1s`, `6m0s`, `1h0m0s`).', schema: { type: 'string' } },
  'x-ratelimit-limit-tokens': { description: 'Keys with token windows: the limit of the most constrained one (also `-remaining-tokens`, `-reset-tokens`).', schema: { type: 'string' } },
};

/** On every refusal: whether an automatic retry can succeed soon (obeyed by the openai SDK). */
const refusalHeaders = {
  'x-should-retry': { description: '`true` on a 429 that clears within 60 s and on 503; `false` otherwise.', schema: { type: 'string', enum: ['true', 'false'] } },
  'Retry-After': { description: 'Seconds until the request can succeed (429, 503).', schema: { type: 'integer' } },
};

const idParameter = { name: 'id', in: 'path', required: true, description: 'The key\'s public id.', schema: { type: 'string' } };
const pageParameters = [
  { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
  { name: 'size', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
];

/** A page of keys: capped total and the keyset cursor of the next page. */
const keyPageSchema = pageSchema(keySchema).extend({
  total: z.number().int().describe('Matching keys, counted up to 10,000.'),
  totalCapped: z.boolean().describe('More than `total` keys match (the count stops at 10,000): show it as "more than".'),
  page: z.number().int().nullable().describe('The page number asked for; null when the page was asked for with a cursor.'),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
});

/** One operation; `id` is its operationId (unique, camelCase: generators name methods after it). */
function operation(spec: {
  id: string;
  summary: string;
  scopes: string[];
  request?: JsonSchema;
  ok: { status: number; description: string; content?: Record<string, unknown> };
  errors: number[];
  parameters?: unknown[];
}) {
  if (!/^[a-z][A-Za-z0-9]*$/.test(spec.id)) throw new Error(`operationId "${spec.id}" must be camelCase`);
  return {
    operationId: spec.id,
    summary: spec.summary,
    description: `Needs scope ${spec.scopes.map((s) => `\`${s}\``).join(' or ')} (\`admin\` implies every scope).`,
    'x-required-scopes': spec.scopes,
    ...(spec.parameters ? { parameters: spec.parameters } : {}),
    ...(spec.request ? { requestBody: { required: true, content: json(spec.request) } } : {}),
    responses: {
      [String(spec.ok.status)]: { description: spec.ok.description, headers: rateLimitHeaders, ...(spec.ok.content ? { content: spec.ok.content } : {}) },
      ...errors(...spec.errors),
    },
  };
}

const formatParameter = {
  name: 'format',
  in: 'query',
  description:
    '`csv`: a `text/csv; charset=utf-8` download (`Content-Disposition: attachment`) with a header row, RFC 4180 quoting, and text cells starting with `=`, `+`, `-`, `@`, a tab or a CR prefixed with `\'` so spreadsheets never run them as formulas. Costs stay in cents with decimals.',
  schema: { type: 'string', enum: ['json', 'csv'], default: 'json' },
};
const csv = { 'text/csv': { schema: { type: 'string' } } };

const read = ['keys:read'];
const write = ['keys:write'];
const keyAction = (id: string, summary: string, extra: number[] = []) =>
  operation({ id, summary, scopes: write, parameters: [idParameter], ok: { status: 200, description: 'The key after the change.', content: json(ref('Key')) }, errors: [...GUARD_ERRORS, 404, ...extra] });

/**
 * Builds the document. `servers` is always present (tools need a base URL): `serverUrl` (e.g.
 * PUBLIC_URL) when known, else `/`, the host that served the document.
 */
export function buildOpenApiDocument(serverUrl: string | null = null) {
  const inputSchemas = components({ KeySettings: keyInputSchema, RotateKeyRequest: rotateSchema }, 'input');
  // Creating needs a name; a `required` beside a $ref is dropped by generators, so KeyCreate is
  // a schema of its own: the settings with `name` required.
  const keySettings = inputSchemas.KeySettings as { required?: string[] };
  const keyCreate = { ...keySettings, required: [...new Set([...(keySettings.required ?? []), 'name'])] };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Keyward API',
      version: '1.0.0',
      license: { name: 'MIT', identifier: 'MIT' },
      description:
        'OpenAI-compatible endpoints guarded by Keyward API keys, and key management for programs. ' +
        'Send the key as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Every error body is `{"error": {"code", "message", "type"}}`.',
    },
    servers: [serverUrl ? { url: serverUrl, description: 'This Keyward (PUBLIC_URL)' } : { url: '/', description: 'The host that served this document' }],
    security: [{ bearerKey: [] }, { headerKey: [] }],
    paths: {
      '/api/openapi.json': {
        get: { operationId: 'getOpenApiDocument', summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } } },
      },
      ...openAiPaths({ operation, ref, json, guardErrors: GUARD_ERRORS }),
      '/api/v1/keys': {
        post: operation({
          id: 'createKey',
          summary: 'Create a key (its owner defaults to the calling key\'s owner; it may not hold scopes the caller lacks)',
          scopes: write,
          request: ref('KeyCreate'),
          ok: { status: 201, description: 'The secret (shown once) and the key.', content: json(ref('IssuedKey')) },
          errors: [400, ...GUARD_ERRORS, 413],
        }),
        get: operation({
          id: 'listKeys',
          summary: 'List keys of the tenant, newest first',
          scopes: read,
          parameters: [
            { name: 'page', in: 'query', description: 'Page number, up to 10,000 keys deep (page × size); deeper pages: follow `nextCursor`.', schema: { type: 'integer', minimum: 1, default: 1 } },
            pageParameters[1],
            {
              name: 'cursor',
              in: 'query',
              description:
                'The `nextCursor` of the previous page (keyset pagination: as fast on page 40,000 as on page 1). Keep the other parameters as they were; `page` is then ignored. A cursor this list did not hand out answers 400 `invalid_cursor`.',
              schema: { type: 'string', maxLength: 512 },
            },
            { name: 'status', in: 'query', schema: { type: 'string', enum: ['active', 'inactive', 'revoked', 'expired'] } },
            { name: 'search', in: 'query', description: 'In name and description, case-insensitive; `%` and `_` match only themselves.', schema: { type: 'string' } },
            { name: 'tag', in: 'query', description: 'Case-insensitive.', schema: { type: 'string' } },
            { name: 'ownerId', in: 'query', schema: { type: 'string' } },
            {
              name: 'expires',
              in: 'query',
              description: '`7d`/`30d`: not revoked and expiring within that many days; `expired`: the expiry has passed; `never`: no expiry.',
              schema: { type: 'string', enum: ['7d', '30d', 'expired', 'never'] },
            },
            { name: 'sort', in: 'query', description: '`expiresAt` lists keys without an expiry last.', schema: { type: 'string', enum: ['createdAt', 'name', 'lastUsedAt', 'expiresAt'], default: 'createdAt' } },
            { name: 'order', in: 'query', schema: { type: 'string', enum: ['asc', 'desc'] } },
          ],
          ok: { status: 200, description: 'A page of keys', content: json(ref('KeyPage')) },
          errors: [400, ...GUARD_ERRORS],
        }),
      },
      '/api/v1/keys/{id}': {
        get: operation({ id: 'getKey', summary: 'One key', scopes: read, parameters: [idParameter], ok: { status: 200, description: 'The key', content: json(ref('Key')) }, errors: [...GUARD_ERRORS, 404] }),
        patch: operation({
          id: 'updateKey',
          summary: 'Change settings (absent fields stay; null clears a nullable one)',
          scopes: write,
          parameters: [idParameter],
          request: ref('KeySettings'),
          ok: { status: 200, description: 'The key', content: json(ref('Key')) },
          errors: [400, ...GUARD_ERRORS, 404],
        }),
        put: operation({
          id: 'replaceKey',
          summary: 'Same as PATCH',
          scopes: write,
          parameters: [idParameter],
          request: ref('KeySettings'),
          ok: { status: 200, description: 'The key', content: json(ref('Key')) },
          errors: [400, ...GUARD_ERRORS, 404],
        }),
        delete: operation({ id: 'deleteKey', summary: 'Delete a key (its audit trail and usage history stay)', scopes: write, parameters: [idParameter], ok: { status: 204, description: 'Deleted' }, errors: [...GUARD_ERRORS, 404] }),
      },
      '/api/v1/keys/{id}/regenerate': {
        post: operation({
          id: 'regenerateKey',
          summary: 'New secret, same key; the old secret stops working at once',
          scopes: write,
          parameters: [idParameter],
          ok: { status: 200, description: 'The new secret (shown once) and the key.', content: json(ref('IssuedKey')) },
          errors: [...GUARD_ERRORS, 404, 409],
        }),
      },
      '/api/v1/keys/{id}/rotate': {
        post: operation({
          id: 'rotateKey',
          summary: 'New secret; the old one keeps working for gracePeriodSeconds (0-604800)',
          scopes: write,
          parameters: [idParameter],
          request: ref('RotateKeyRequest'),
          ok: { status: 200, description: 'The new secret (shown once) and the key.', content: json(ref('IssuedKey')) },
          errors: [400, ...GUARD_ERRORS, 404, 409],
        }),
      },
      '/api/v1/keys/{id}/revoke': { post: keyAction('revokeKey', 'Revoke for good') },
      '/api/v1/keys/{id}/activate': { post: keyAction('activateKey', 'Activate a deactivated key (not a revoked one)', [409]) },
      '/api/v1/keys/{id}/deactivate': { post: keyAction('deactivateKey', 'Deactivate (reversible)', [409]) },
      '/api/v1/keys/{id}/reset-usage': { post: keyAction('resetKeyUsage', 'Reset usage: quota and budget start over') },
      '/api/v1/keys/{id}/usage': {
        get: operation({
          id: 'getKeyUsage',
          summary: 'Usage: totals, this hour, today, the last 30 days, budget, every request of the last 30 days by outcome, spend by model',
          scopes: read,
          parameters: [idParameter],
          ok: { status: 200, description: 'Usage', content: json(ref('KeyUsage')) },
          errors: [...GUARD_ERRORS, 404],
        }),
      },
      '/api/v1/keys/{id}/requests': {
        get: operation({
          id: 'listKeyRequests',
          summary: 'The request log of a key, newest first: every request the guard saw with it (admitted and refused), kept REQUEST_LOG_RETENTION_DAYS',
          scopes: read,
          parameters: [
            idParameter,
            { name: 'limit', in: 'query', description: 'Rows per page: 1-100 (default 50); with format=csv 1-10,000 (default 10,000; `X-Next-Cursor` continues a longer export).', schema: { type: 'integer', minimum: 1, maximum: 10000 } },
            { name: 'cursor', in: 'query', description: 'The `nextCursor` of the previous page (opaque).', schema: { type: 'string' } },
            { name: 'outcome', in: 'query', schema: { type: 'string', enum: [...REQUEST_OUTCOMES] } },
            { name: 'ip', in: 'query', description: 'Only requests from this client address.', schema: { type: 'string' } },
            { name: 'from', in: 'query', description: 'Only requests at or after this time (ISO 8601 date-time, or a UTC day YYYY-MM-DD).', schema: { type: 'string' } },
            { name: 'to', in: 'query', description: 'Only requests before this time (same forms).', schema: { type: 'string' } },
            formatParameter,
          ],
          ok: { status: 200, description: 'A page of requests', content: { ...json(ref('RequestLogPage')), ...csv } },
          errors: [400, ...GUARD_ERRORS, 404],
        }),
      },
      '/api/v1/keys/{id}/ips': {
        get: operation({
          id: 'listKeyAddresses',
          summary: 'The client addresses a key was used from (admitted and refused requests), most recently seen first',
          scopes: read,
          parameters: [idParameter],
          ok: { status: 200, description: 'Client addresses', content: json(ref('ClientAddressList')) },
          errors: [...GUARD_ERRORS, 404],
        }),
      },
      '/api/v1/usage': {
        get: operation({
          id: 'getTenantUsage',
          summary: 'Usage of the tenant over UTC days by day, key or model: requests by outcome, tokens, cost',
          scopes: read,
          parameters: [
            { name: 'from', in: 'query', description: 'First UTC day (YYYY-MM-DD, included); default 29 days before `to`.', schema: { type: 'string', format: 'date' } },
            { name: 'to', in: 'query', description: `Last UTC day (included); default today. At most ${MAX_USAGE_RANGE_DAYS} days in all.`, schema: { type: 'string', format: 'date' } },
            { name: 'groupBy', in: 'query', schema: { type: 'string', enum: [...USAGE_GROUPS], default: 'day' } },
            formatParameter,
          ],
          ok: { status: 200, description: 'Usage rows', content: { ...json(ref('TenantUsage')), ...csv } },
          errors: [400, ...GUARD_ERRORS],
        }),
      },
      '/api/v1/stats': {
        get: operation({ id: 'getKeyStats', summary: 'Key counts of the tenant by status', scopes: read, ok: { status: 200, description: 'Counts', content: json(ref('Stats')) }, errors: GUARD_ERRORS }),
      },
      '/api/v1/audit-events': {
        get: operation({
          id: 'listAuditEvents',
          summary: 'Audit events of the tenant, newest first',
          scopes: read,
          parameters: [
            ...pageParameters,
            { name: 'action', in: 'query', schema: { type: 'string' } },
            { name: 'keyId', in: 'query', schema: { type: 'string' } },
            { ...formatParameter, description: `${formatParameter.description} With csv, \`size\` may be up to 10,000 (default 10,000).` },
          ],
          ok: { status: 200, description: 'A page of events', content: { ...json(ref('AuditEventPage')), ...csv } },
          errors: [400, ...GUARD_ERRORS],
        }),
      },
      ...verifyPaths({ operation, ref, json, guardErrors: GUARD_ERRORS }),
      ...webhookPaths({ operation, ref, json, guardErrors: GUARD_ERRORS }),
      ...governancePaths({ operation, ref, json, guardErrors: GUARD_ERRORS }),
    },
    components: {
      securitySchemes: {
        bearerKey: { type: 'http', scheme: 'bearer', description: 'A Keyward API key.' },
        headerKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A Keyward API key.' },
      },
      schemas: {
        ...inputSchemas,
        KeyCreate: keyCreate,
        ...components(openAiComponents.input, 'input'),
        ...components(webhookComponents.input, 'input'),
        ...components(governanceComponents.input, 'input'),
        ...components(governanceComponents.output, 'output'),
        ...components(webhookComponents.output, 'output'),
        ...components(openAiComponents.output, 'output'),
        ...components(verifyComponents.input, 'input'),
        ...components(verifyComponents.output, 'output'),
        ...components(
          {
            Key: keySchema,
            IssuedKey: issuedKeySchema,
            KeyPage: keyPageSchema,
            KeyUsage: keyUsageSchema,
            RequestLogPage: requestLogPageSchema,
            ClientAddressList: clientAddressListSchema,
            TenantUsage: tenantUsageSchema,
            AuditEvent: auditEventSchema,
            AuditEventPage: pageSchema(auditEventSchema).extend({
              total: z.number().int().describe('Matching events, counted up to 10,000.'),
              totalCapped: z.boolean().describe('More than 10,000 events match: `total` is a lower bound.'),
            }),
            Stats: statsSchema,
            Error: errorSchema,
          },
          'output',
        ),
      },
    },
  };
}
