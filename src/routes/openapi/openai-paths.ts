/**
 * The OpenAPI paths and components of the OpenAI-compatible routes (models, chat completions,
 * responses, the calling key), built with document.ts's helpers from the same zod schemas that
 * validate the bodies. Streamed answers are documented as `text/event-stream` strings: the
 * events are described in prose, since an SSE body is not one JSON document.
 */
import type { z } from 'zod';
import { chatRequestSchema } from '../../llm/chat-request';
import { responsesRequestSchema } from '../../llm/responses-request';
import { chatCompletionChunkSchema, chatCompletionSchema, keyInfoSchema, modelListSchema, modelSchema, responseSchema } from '../../presenters/openai-schemas';
import type { DocumentHelpers } from './webhook-paths';

/** The component schemas, by direction (request bodies are `input`, responses `output`). */
export const openAiComponents = {
  input: { ChatCompletionRequest: chatRequestSchema, ResponseRequest: responsesRequestSchema } as Record<string, z.ZodType>,
  output: {
    Model: modelSchema,
    ModelList: modelListSchema,
    ChatCompletion: chatCompletionSchema,
    ChatCompletionChunk: chatCompletionChunkSchema,
    Response: responseSchema,
    KeyInfo: keyInfoSchema,
  } as Record<string, z.ZodType>,
};

/** A stream of server-sent events: a string body; `x-event-data` names the schema of each event's data. */
const eventStream = (description: string, data: { $ref: string }) => ({ 'text/event-stream': { schema: { type: 'string', description, 'x-event-data': data } } });

/** The paths, for document.ts's `paths`. */
export function openAiPaths({ operation, ref, json, guardErrors }: DocumentHelpers): Record<string, unknown> {
  const api = ['api'];
  return {
    '/api/v1/models': {
      get: operation({ id: 'listModels', summary: 'Models this key may use', scopes: api, ok: { status: 200, description: 'Model list', content: json(ref('ModelList')) }, errors: guardErrors }),
    },
    '/api/v1/models/{model}': {
      get: operation({
        id: 'retrieveModel',
        summary: 'One model this key may use (404 model_not_found for an unknown one or one the key may not use)',
        scopes: api,
        parameters: [{ name: 'model', in: 'path', required: true, description: 'The model id, e.g. `local-small`.', schema: { type: 'string' } }],
        ok: { status: 200, description: 'The model', content: json(ref('Model')) },
        errors: [...guardErrors, 404],
      }),
    },
    '/api/v1/chat/completions': {
      post: operation({
        id: 'createChatCompletion',
        summary: 'Create a chat completion (streams server-sent events with "stream": true)',
        scopes: api,
        request: ref('ChatCompletionRequest'),
        ok: {
          status: 200,
          description: 'A completion; with `"stream": true`, server-sent events whose `data:` is a ChatCompletionChunk (see components), ending with `data: [DONE]`.',
          content: {
            ...json(ref('ChatCompletion')),
            ...eventStream('`data: <ChatCompletionChunk JSON>` events, then `data: [DONE]`.', ref('ChatCompletionChunk')),
          },
        },
        errors: [400, ...guardErrors, 402, 404, 413],
      }),
    },
    '/api/v1/responses': {
      post: operation({
        id: 'createResponse',
        summary: 'Create a model response (OpenAI\'s Responses API; streams server-sent events with "stream": true)',
        scopes: api,
        request: ref('ResponseRequest'),
        ok: {
          status: 200,
          description:
            'A Response; with `"stream": true`, server-sent events `event: <type>` / `data: {"type", "sequence_number", ...}`: response.created, response.in_progress, ' +
            'response.output_item.added, response.content_part.added, response.output_text.delta (repeated), response.output_text.done, response.content_part.done, ' +
            'response.output_item.done, then response.completed (response.incomplete when max_output_tokens cut the answer; response.failed when an upstream broke off).',
          content: { ...json(ref('Response')), ...eventStream('`event: <type>` and `data: <event JSON>` pairs, as listed above; the last event\'s `response` is a Response.', ref('Response')) },
        },
        errors: [400, ...guardErrors, 402, 404, 413],
      }),
    },
    '/api/v1/key': {
      get: operation({ id: 'getCallingKey', summary: 'The calling key, its limits and where it stands', scopes: api, ok: { status: 200, description: 'The key', content: json(ref('KeyInfo')) }, errors: guardErrors }),
    },
  };
}
