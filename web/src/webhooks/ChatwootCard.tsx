import { api } from '../api/client';
import type { ChatwootStatus } from '../api/types';
import { Card } from '../components/Card';
import { ErrorAlert } from '../components/ErrorAlert';
import { Moment } from '../components/Moment';
import { useLoad } from '../components/useLoad';
import { useI18n } from '../i18n/i18n';
import { CONFIG_FILE, REQUIRED_KEYS, inbound, outbound } from './chatwoot';

/** Whether Chatwoot is configured, how its inbound webhook checks calls, and its last calls. */
export function ChatwootCard() {
  const { t } = useI18n();
  const status = useLoad(() => api.get<ChatwootStatus>('/chatwoot/status'));
  return (
    <Card id="chatwoot" title={t('chatwoot.title')} help={t('chatwoot.help')} onRefresh={() => void status.reload()}>
      <ErrorAlert message={status.error} />
      {status.data ? <StatusFacts s={status.data} /> : !status.error && <p className="muted">{t('common.loading')}</p>}
    </Card>
  );
}

function StatusFacts({ s }: { s: ChatwootStatus }) {
  const { t } = useI18n();
  const out = outbound(s);
  const check = inbound(s);
  // An open webhook is a warning of its own; a static token only a note (it still checks).
  const open = check.severity === 'off';
  return (
    <>
      <dl className="facts" data-testid="chatwoot-status">
        <dt>{t('chatwoot.outbound')}</dt>
        <dd>
          <span className={`badge ${out.severity}`}>{t(out.label)}</span>
          {!s.configured && <small className="muted block">{t('chatwoot.howToEnable', { file: CONFIG_FILE, keys: REQUIRED_KEYS.join(', ') })}</small>}
        </dd>
        <dt>{t('chatwoot.baseUrl')}</dt>
        <dd>{s.base_url ? <code>{s.base_url}</code> : '—'}</dd>
        <dt>{t('chatwoot.inbound')}</dt>
        <dd>
          <span className={`badge ${check.severity}`}>{t(check.label)}</span>
          {!open && check.warning && <small className="muted block">{t(check.warning)}</small>}
        </dd>
        <dt>{t('chatwoot.pending')}</dt>
        <dd>{s.pending}</dd>
        <dt>{t('chatwoot.lastSuccess')}</dt>
        <dd>
          <Moment at={s.last_success_at} />
        </dd>
        <dt>{t('chatwoot.lastError')}</dt>
        <dd>
          {s.last_error ? (
            <>
              <Moment at={s.last_error_at} />
              <small className="block delivery-error">{s.last_error}</small>
            </>
          ) : (
            '—'
          )}
        </dd>
      </dl>
      {open && check.warning && <p className="notice">{t(check.warning)}</p>}
    </>
  );
}
