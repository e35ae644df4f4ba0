// Webhook subscriptions: the form's event-type choice to and from the API's fields, the
// request bodies, and the secrets the console generates.
import { ApiError, listPath } from '../api/client';
import type { Webhook } from '../api/types';
import { textOrNull, type FormValue, type FormValues } from '../components/form';

/** The event types a subscription gets: every type, or those listed. */
export interface TypeChoice {
  all: boolean;
  types: string[];
}

/**
 * What a subscription receives. The original's single `event_type_filter` narrows
 * `event_types` further (the appliance wants both to match), so the console shows the two
 * as one list.
 */
export function typeChoice(webhook: Pick<Webhook, 'event_type_filter' | 'event_types'>): TypeChoice {
  const { event_type_filter: filter, event_types: types } = webhook;
  if (!filter) return { all: types === null, types: types ?? [] };
  return { all: false, types: types === null || types.includes(filter) ? [filter] : [] };
}

/**
 * `event_types` for the API: null for every type, else the ticked types in the order of the
 * list offered (`known`), so the same choice is always sent the same way.
 */
export function eventTypesOf(all: FormValue, ticked: FormValue, known: string[]): string[] | null {
  if (all === true) return null;
  const chosen = new Set(Array.isArray(ticked) ? ticked : []);
  const rank = (type: string) => (known.includes(type) ? known.indexOf(type) : known.length);
  return [...chosen].sort((a, b) => rank(a) - rank(b));
}

/**
 * The body of a create (`row` null) or an update. An empty secret asks the appliance to
 * generate one on create and keeps the current one on update; an update moves an original
 * single-type filter into the list (`typeChoice` already showed it there). Throws an
 * ApiError naming `event_types` when nothing was chosen, so the form shows `noTypeMessage`
 * next to the list.
 */
export function webhookBody(values: FormValues, row: Webhook | null, known: string[], noTypeMessage: string): Record<string, unknown> {
  const eventTypes = eventTypesOf(values.all_types, values.event_types, known);
  if (eventTypes !== null && eventTypes.length === 0) throw new ApiError(422, '', { event_types: noTypeMessage });
  const body: Record<string, unknown> = { name: values.name, url: values.url, event_types: eventTypes, is_active: values.is_active };
  const secret = textOrNull(values.secret_token);
  if (!row) body.secret_token = secret;
  else if (secret) body.secret_token = secret;
  if (row?.event_type_filter) body.event_type_filter = null;
  return body;
}

/** The form's starting values besides those read from the row's properties. */
export function webhookFormValues(row: Webhook | null): FormValues {
  const choice = row ? typeChoice(row) : { all: true, types: [] };
  return { all_types: choice.all, event_types: choice.types };
}

const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A new signing secret: 32 characters of 6 random bits each (the API takes 16 to 255). */
export function newSecret(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  return Array.from(random(new Uint8Array(32)), (byte) => SECRET_ALPHABET[byte & 63]).join('');
}

/** How many deliveries the log shows, newest first. */
export const DELIVERY_LIMIT = 100;

/** A subscription's delivery log, optionally only those of one status. */
export function deliveriesPath(webhookId: number, status: string): string {
  return listPath(`/webhooks/${webhookId}/deliveries`, { limit: DELIVERY_LIMIT, status: status || undefined });
}
