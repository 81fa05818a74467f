/**
 * Tokens and money. Prices are cents per million tokens, so a token costs exactly `price`
 * micro-cents (1e-6 cent): costs are computed in integer micro-cents, rounded up.
 */
import type { CatalogModel } from '../config/model-catalog';
import type { ChatMessage } from './chat-request';
import { messageText } from './chat-request';

/** Per-message framing tokens (role, separators) in chat formats. */
const MESSAGE_OVERHEAD = 4;
const REPLY_PRIMING = 3;

/** Request fields that reach the model as prompt text besides the messages. */
const PROMPT_FIELDS = ['tools', 'tool_choice', 'functions', 'function_call', 'response_format'] as const;

/**
 * An upper bound of a prompt's tokens: every token of a BPE tokenizer covers at least one byte,
 * so UTF-8 bytes plus framing can never be exceeded. Counts the messages' text, roles and names,
 * and tool/function definitions and response formats (sent to the model as prompt text too).
 * Used for budget reservations.
 */
export function promptTokensUpperBound(request: { messages: readonly Partial<ChatMessage>[] } & Partial<Record<(typeof PROMPT_FIELDS)[number], unknown>>): number {
  let tokens = REPLY_PRIMING;
  for (const message of request.messages) {
    tokens += MESSAGE_OVERHEAD + Buffer.byteLength(messageText(message.content), 'utf8');
    tokens += Buffer.byteLength(message.role ?? '', 'utf8') + Buffer.byteLength(message.name ?? '', 'utf8');
  }
  for (const field of PROMPT_FIELDS) {
    const value = request[field];
    if (value !== undefined && value !== null) tokens += Buffer.byteLength(JSON.stringify(value), 'utf8');
  }
  return tokens;
}

/** An upper bound of the tokens of a text: its UTF-8 bytes (every token covers at least one byte). */
export function textTokensUpperBound(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** A typical token count (about 4 characters per token), as the local provider reports usage. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function promptTokensEstimate(messages: readonly ChatMessage[]): number {
  let tokens = REPLY_PRIMING;
  for (const message of messages) tokens += MESSAGE_OVERHEAD + estimateTokens(messageText(message.content));
  return tokens;
}

/** Cost of a request in micro-cents. */
export function costMicroCents(model: Pick<CatalogModel, 'inputCentsPerMillion' | 'outputCentsPerMillion'>, promptTokens: number, completionTokens: number): number {
  return Math.ceil(promptTokens * model.inputCentsPerMillion + completionTokens * model.outputCentsPerMillion);
}

/**
 * Reports a request's usage to its key as it happens, so that whatever was produced before a
 * client disconnect is counted (the middleware settles the budget when the response closes).
 */
export class UsageMeter {
  private prompt = 0;
  private completion = 0;
  private reportedCost = 0;

  constructor(
    private readonly apiKey: { reportUsage(usage: { promptTokens?: number; completionTokens?: number; costMicroCents?: number }): void },
    private readonly model: Pick<CatalogModel, 'inputCentsPerMillion' | 'outputCentsPerMillion'>,
  ) {}

  /** Adds prompt and completion tokens and the cost they add. */
  add(promptTokens: number, completionTokens: number): void {
    this.set(this.prompt + promptTokens, this.completion + completionTokens);
  }

  /** Replaces the totals (e.g. an estimate by the provider's own count), reporting the difference. */
  set(promptTokens: number, completionTokens: number): void {
    const cost = costMicroCents(this.model, promptTokens, completionTokens);
    this.apiKey.reportUsage({
      promptTokens: promptTokens - this.prompt,
      completionTokens: completionTokens - this.completion,
      costMicroCents: cost - this.reportedCost,
    });
    this.prompt = promptTokens;
    this.completion = completionTokens;
    this.reportedCost = cost;
  }

  get promptTokens(): number {
    return this.prompt;
  }

  get completionTokens(): number {
    return this.completion;
  }
}
