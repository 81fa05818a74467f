/**
 * What POST /api/v1/responses answers: OpenAI's `response` object, and with `stream: true` its
 * server-sent events in OpenAI's order: response.created, response.in_progress,
 * response.output_item.added, response.content_part.added, response.output_text.delta...,
 * response.output_text.done, response.content_part.done, response.output_item.done, then
 * response.completed (response.incomplete when max_output_tokens cut the answer short), each
 * with its `sequence_number`.
 */
import { randomBytes } from 'node:crypto';
import type { ResponsesRequest } from './responses-request';
import type { EventStream } from './sse';

/** OpenAI's Responses usage object. */
export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** Usage in the Responses shape. */
export function responsesUsage(inputTokens: number, outputTokens: number): ResponsesUsage {
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString('hex')}`;

type Status = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** One response being built: its ids, and the request fields it echoes. */
export class ResponseDraft {
  readonly id = newId('resp');
  readonly messageId = newId('msg');
  readonly createdAt = Math.floor(Date.now() / 1000);

  constructor(
    private readonly request: ResponsesRequest,
    private readonly modelId: string,
  ) {}

  /** The assistant message holding `text` (none while nothing was produced in progress). */
  message(text: string, status: Status) {
    return {
      id: this.messageId,
      type: 'message' as const,
      status: status === 'failed' ? 'incomplete' : status,
      role: 'assistant' as const,
      content: [this.textPart(text)],
    };
  }

  textPart(text: string) {
    return { type: 'output_text' as const, text, annotations: [] as unknown[], logprobs: [] as unknown[] };
  }

  /** The `response` object (output and usage only once known). */
  response(status: Status, output: { text: string; usage: ResponsesUsage } | null, error: { code: string; message: string } | null = null) {
    const r = this.request;
    return {
      id: this.id,
      object: 'response' as const,
      created_at: this.createdAt,
      status,
      error,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: r.instructions ?? null,
      max_output_tokens: r.max_output_tokens ?? null,
      model: this.modelId,
      output: output ? [this.message(output.text, status)] : [],
      parallel_tool_calls: false,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      temperature: r.temperature ?? 1,
      text: { format: { type: 'text' } },
      tool_choice: 'none',
      tools: [],
      top_p: r.top_p ?? 1,
      truncation: 'disabled',
      usage: output ? output.usage : null,
      user: r.user ?? null,
      metadata: {},
    };
  }
}

/** The status a finished answer gets from its chat finish reason. */
export function statusOf(finishReason: string | null): 'completed' | 'incomplete' {
  return finishReason === 'length' ? 'incomplete' : 'completed';
}

/** Writes a response's events to an event stream; each write resolves false once the client has gone. */
export class ResponseEvents {
  private sequence = 0;
  private text = '';

  constructor(
    private readonly stream: EventStream,
    private readonly draft: ResponseDraft,
  ) {}

  private async emit(type: string, fields: Record<string, unknown>): Promise<boolean> {
    return this.stream.send({ type, sequence_number: this.sequence++, ...fields }, type);
  }

  private get at() {
    return { item_id: this.draft.messageId, output_index: 0, content_index: 0 };
  }

  /** Starts the response: created, in progress, an empty message and an empty text part. */
  async open(): Promise<boolean> {
    const pending = this.draft.response('in_progress', null);
    return (
      (await this.emit('response.created', { response: pending })) &&
      (await this.emit('response.in_progress', { response: pending })) &&
      (await this.emit('response.output_item.added', { output_index: 0, item: { ...this.draft.message('', 'in_progress'), content: [] } })) &&
      this.emit('response.content_part.added', { ...this.at, part: this.draft.textPart('') })
    );
  }

  /** One piece of the answer's text. */
  delta(text: string): Promise<boolean> | boolean {
    this.text += text;
    return this.emit('response.output_text.delta', { ...this.at, delta: text, logprobs: [] });
  }

  /** Ends the answer: the text, the part and the message done, then the whole response. */
  async close(finishReason: string | null, usage: ResponsesUsage): Promise<boolean> {
    const status = statusOf(finishReason);
    const final = this.draft.response(status, { text: this.text, usage });
    return (
      (await this.emit('response.output_text.done', { ...this.at, text: this.text, logprobs: [] })) &&
      (await this.emit('response.content_part.done', { ...this.at, part: this.draft.textPart(this.text) })) &&
      (await this.emit('response.output_item.done', { output_index: 0, item: this.draft.message(this.text, status) })) &&
      this.emit(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: final })
    );
  }

  /** Ends a response whose provider broke off after the stream started. */
  async fail(code: string, message: string, usage: ResponsesUsage): Promise<boolean> {
    return this.emit('response.failed', { response: this.draft.response('failed', { text: this.text, usage }, { code, message }) });
  }
}
