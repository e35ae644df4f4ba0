import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors';
import type { Webhook } from '../api/types';
import { deliveriesPath, eventTypesOf, newSecret, typeChoice, webhookBody, webhookFormValues } from './webhooks';

const KNOWN = ['PERSON_CREATED', 'PERSON_UPDATED', 'GATEWAY_OFFLINE', 'CAMERA_EVENT'];

function webhook(changes: Partial<Webhook> = {}): Webhook {
  return {
    id: 4,
    name: 'ERP',
    url: 'https://erp.example.com/in',
    secret_token: null,
    has_secret: true,
    event_type_filter: null,
    event_types: null,
    is_active: true,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...changes,
  };
}

describe('event types chosen', () => {
  it('sends null for every type, whatever was ticked before', () => {
    expect(eventTypesOf(true, ['CAMERA_EVENT'], KNOWN)).toBeNull();
  });

  it('sends the ticked types once each, in the order offered', () => {
    expect(eventTypesOf(false, ['CAMERA_EVENT', 'PERSON_CREATED', 'CAMERA_EVENT'], KNOWN)).toEqual(['PERSON_CREATED', 'CAMERA_EVENT']);
    expect(eventTypesOf(false, ['NOT_OFFERED', 'GATEWAY_OFFLINE'], KNOWN)).toEqual(['GATEWAY_OFFLINE', 'NOT_OFFERED']);
    expect(eventTypesOf(false, null, KNOWN)).toEqual([]);
  });

  it('reads a subscription back as the same choice', () => {
    expect(typeChoice(webhook())).toEqual({ all: true, types: [] });
    expect(typeChoice(webhook({ event_types: ['GATEWAY_OFFLINE'] }))).toEqual({ all: false, types: ['GATEWAY_OFFLINE'] });
  });

  it('shows the original single-type filter as the only type', () => {
    expect(typeChoice(webhook({ event_type_filter: 'PERSON_CREATED' }))).toEqual({ all: false, types: ['PERSON_CREATED'] });
    expect(typeChoice(webhook({ event_type_filter: 'PERSON_CREATED', event_types: ['PERSON_CREATED', 'CAMERA_EVENT'] }))).toEqual({ all: false, types: ['PERSON_CREATED'] });
    // Both must match: a filter outside the list lets nothing through.
    expect(typeChoice(webhook({ event_type_filter: 'PERSON_CREATED', event_types: ['CAMERA_EVENT'] }))).toEqual({ all: false, types: [] });
  });

  it('starts a new subscription with every type', () => {
    expect(webhookFormValues(null)).toEqual({ all_types: true, event_types: [] });
    expect(webhookFormValues(webhook({ event_types: ['CAMERA_EVENT'] }))).toEqual({ all_types: false, event_types: ['CAMERA_EVENT'] });
  });
});

describe('webhookBody', () => {
  const values = { name: 'ERP', url: 'https://erp.example.com/in', secret_token: '', all_types: false, event_types: ['CAMERA_EVENT'], is_active: true };

  it('asks the appliance to generate the secret of a new subscription when none is typed', () => {
    expect(webhookBody(values, null, KNOWN, 'pick one')).toEqual({
      name: 'ERP', url: 'https://erp.example.com/in', event_types: ['CAMERA_EVENT'], is_active: true, secret_token: null,
    });
    expect(webhookBody({ ...values, secret_token: ' a-secret-of-16-chars ' }, null, KNOWN, 'pick one').secret_token).toBe('a-secret-of-16-chars');
  });

  it('keeps the current secret on update unless a new one is typed', () => {
    expect(webhookBody(values, webhook(), KNOWN, 'pick one')).not.toHaveProperty('secret_token');
    expect(webhookBody({ ...values, secret_token: 'replacement-secret-1' }, webhook(), KNOWN, 'pick one').secret_token).toBe('replacement-secret-1');
  });

  it('sends every type as null', () => {
    expect(webhookBody({ ...values, all_types: true }, webhook(), KNOWN, 'pick one').event_types).toBeNull();
  });

  it('moves an original single-type filter into the list on update', () => {
    const body = webhookBody({ ...values, event_types: ['PERSON_CREATED'] }, webhook({ event_type_filter: 'PERSON_CREATED' }), KNOWN, 'pick one');
    expect(body).toMatchObject({ event_type_filter: null, event_types: ['PERSON_CREATED'] });
    expect(webhookBody(values, webhook(), KNOWN, 'pick one')).not.toHaveProperty('event_type_filter');
  });

  it('refuses an empty choice next to the list of types', () => {
    let refused: unknown;
    try {
      webhookBody({ ...values, event_types: [] }, null, KNOWN, 'pick one');
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).fields).toEqual({ event_types: 'pick one' });
  });
});

describe('secrets and the delivery log', () => {
  it('generates secrets of 32 URL-safe characters from random bytes', () => {
    const secret = newSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(newSecret()).not.toBe(secret);
    expect(newSecret((b) => b.fill(255))).toBe('_'.repeat(32));
    expect(newSecret((b) => b.fill(64))).toBe('A'.repeat(32));
  });

  it('asks for the newest deliveries, of one status when filtered', () => {
    expect(deliveriesPath(4, '')).toBe('/webhooks/4/deliveries?limit=100');
    expect(deliveriesPath(4, 'FAILED')).toBe('/webhooks/4/deliveries?limit=100&status=FAILED');
  });
});
