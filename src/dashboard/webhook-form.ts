/**
 * The dashboard's webhook form: reads the posted fields (events as repeated checkboxes) into the
 * body the webhook service validates, and turns its validation errors into per-field messages.
 */
import { AppError } from '../errors';

/** What the form shows back after a refused post. */
export interface WebhookFormValues {
  url: string;
  events: string[];
  description: string;
}

/** Field labels, in the order of the form (for the error summary). */
export const WEBHOOK_FIELD_LABELS = { url: 'URL', events: 'Events', description: 'Description' };

const text = (value: unknown) => (typeof value === 'string' ? value : Array.isArray(value) ? String(value[0] ?? '') : '');

/** The posted form as a create body plus the values to show again. */
export function readWebhookForm(body: unknown): { input: Record<string, unknown>; values: WebhookFormValues } {
  const raw = (body ?? {}) as Record<string, unknown>;
  const events = (Array.isArray(raw.events) ? raw.events : raw.events === undefined ? [] : [raw.events]).map(String);
  const values = { url: text(raw.url).slice(0, 2100), events, description: text(raw.description).slice(0, 600) };
  return { input: { url: values.url, events: values.events, description: values.description }, values };
}

/** Per-field messages of a validation error, or null for any other error. */
export function webhookFormErrors(error: unknown): Record<string, string> | null {
  if (!(error instanceof AppError) || error.code !== 'validation_error' || !error.details) return null;
  const errors: Record<string, string> = {};
  for (const detail of error.details) {
    const field = detail.field.split('.')[0];
    if (!errors[field]) errors[field] = detail.message;
  }
  return errors;
}
