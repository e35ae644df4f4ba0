import { describe, expect, it } from 'vitest';
import type { ChatwootStatus } from '../api/types';
import { translate } from '../i18n/i18n';
import { CONFIG_FILE, REQUIRED_KEYS, inbound, inboundMode, outbound } from './chatwoot';

function status(changes: Partial<ChatwootStatus> = {}): ChatwootStatus {
  return {
    configured: true,
    base_url: 'https://chat.example.com',
    inbound_signed: true,
    inbound_token: false,
    pending: 0,
    last_success_at: null,
    last_error: null,
    last_error_at: null,
    ...changes,
  };
}

const EARLIER = '2026-12-01T10:00:00Z';
const LATER = '2026-12-01T10:05:00Z';

describe('Chatwoot outbound state', () => {
  it('is not configured whatever its last calls were', () => {
    expect(outbound(status({ configured: false }))).toEqual({ label: 'chatwoot.notConfigured', severity: 'idle' });
    expect(outbound(status({ configured: false, last_error: 'x', last_error_at: LATER }))).toEqual({ label: 'chatwoot.notConfigured', severity: 'idle' });
  });

  it('is neutral when configured but not called since the start', () => {
    expect(outbound(status())).toEqual({ label: 'chatwoot.noCalls', severity: 'idle' });
  });

  it('fails when the last error is newer than the last success, or there was no success', () => {
    expect(outbound(status({ last_error_at: LATER }))).toEqual({ label: 'chatwoot.failing', severity: 'off' });
    expect(outbound(status({ last_success_at: EARLIER, last_error_at: LATER }))).toEqual({ label: 'chatwoot.failing', severity: 'off' });
  });

  it('works when a success came after the last error', () => {
    expect(outbound(status({ last_success_at: LATER }))).toEqual({ label: 'chatwoot.working', severity: 'ok' });
    expect(outbound(status({ last_success_at: LATER, last_error_at: EARLIER }))).toEqual({ label: 'chatwoot.working', severity: 'ok' });
  });
});

describe('Chatwoot inbound check', () => {
  it('prefers the signature to the static token', () => {
    expect(inboundMode(status({ inbound_signed: true, inbound_token: true }))).toBe('signed');
    expect(inboundMode(status({ inbound_signed: false, inbound_token: true }))).toBe('token');
    expect(inboundMode(status({ inbound_signed: false, inbound_token: false }))).toBe('open');
  });

  it('shows signed as fine, a token as weaker with a note, open as a warning', () => {
    expect(inbound(status())).toEqual({ label: 'chatwoot.inboundSigned', severity: 'ok', warning: null });
    expect(inbound(status({ inbound_signed: false, inbound_token: true }))).toEqual({ label: 'chatwoot.inboundToken', severity: 'pending', warning: 'chatwoot.tokenWeaker' });
    expect(inbound(status({ inbound_signed: false }))).toEqual({ label: 'chatwoot.inboundOpen', severity: 'off', warning: 'chatwoot.openWarning' });
  });
});

describe('Chatwoot how-to', () => {
  it('names the file and every key that turns the integration on, in both languages', () => {
    for (const language of ['pt', 'en'] as const) {
      const text = translate(language, 'chatwoot.howToEnable', { file: CONFIG_FILE, keys: REQUIRED_KEYS.join(', ') });
      expect(text).toContain('/etc/securityvision/securityvision.toml');
      expect(text).toContain('[chatwoot]');
      for (const key of ['enabled = true', 'base_url', 'account_id', 'inbox', 'api_token']) expect(text).toContain(key);
      expect(text).not.toMatch(/\{\w+\}/);
    }
  });
});
