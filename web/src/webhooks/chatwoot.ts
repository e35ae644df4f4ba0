// The Chatwoot integration's status as the console shows it: labels and badge colours.
import type { ChatwootStatus } from '../api/types';
import type { MessageKey } from '../i18n/i18n';

/** A badge's colour (a `.badge` class): fine, weaker, wrong, or nothing to judge. */
export type Severity = 'ok' | 'pending' | 'off' | 'idle';

export interface Shown {
  label: MessageKey;
  severity: Severity;
}

/** Where the appliance reads its settings. */
export const CONFIG_FILE = '/etc/securityvision/securityvision.toml';

/** What the `[chatwoot]` section needs for incidents to be mirrored: all of it. */
export const REQUIRED_KEYS = ['enabled = true', 'base_url', 'account_id', 'inbox', 'api_token'];

/**
 * Outgoing calls: not configured; failing when the last error is newer than the last success;
 * working after a success; configured but not called yet since the service started.
 */
export function outbound(s: Pick<ChatwootStatus, 'configured' | 'last_success_at' | 'last_error_at'>): Shown {
  if (!s.configured) return { label: 'chatwoot.notConfigured', severity: 'idle' };
  const success = s.last_success_at ? Date.parse(s.last_success_at) : null;
  const error = s.last_error_at ? Date.parse(s.last_error_at) : null;
  if (error !== null && (success === null || error > success)) return { label: 'chatwoot.failing', severity: 'off' };
  if (success !== null) return { label: 'chatwoot.working', severity: 'ok' };
  return { label: 'chatwoot.noCalls', severity: 'idle' };
}

export type InboundMode = 'signed' | 'token' | 'open';

/** How the inbound webhook checks a call: the HMAC signature wins over the static token. */
export function inboundMode(s: Pick<ChatwootStatus, 'inbound_signed' | 'inbound_token'>): InboundMode {
  if (s.inbound_signed) return 'signed';
  return s.inbound_token ? 'token' : 'open';
}

const INBOUND: Record<InboundMode, Shown> = {
  signed: { label: 'chatwoot.inboundSigned', severity: 'ok' },
  token: { label: 'chatwoot.inboundToken', severity: 'pending' },
  open: { label: 'chatwoot.inboundOpen', severity: 'off' },
};

/** The inbound webhook's check, with its warning when there is one (weaker token, open). */
export function inbound(s: Pick<ChatwootStatus, 'inbound_signed' | 'inbound_token'>): Shown & { warning: MessageKey | null } {
  const mode = inboundMode(s);
  const warning = mode === 'open' ? 'chatwoot.openWarning' : mode === 'token' ? 'chatwoot.tokenWeaker' : null;
  return { ...INBOUND[mode], warning };
}
