import { useI18n } from '../i18n/i18n';
import type { StreamState } from './stream';

/** The live stream's state (connecting, live, reconnecting), announced when it changes. */
export function StreamBadge({ state }: { state: StreamState }) {
  const { t } = useI18n();
  return (
    <span className={`stream-state stream-${state}`} role="status">
      {t(`map.stream.${state}`)}
    </span>
  );
}
