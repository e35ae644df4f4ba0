// What every report panel gets from the page, and the query it builds from it.
import type { QueryValue } from './request';
import type { ReportFilters, ReportWindow } from './window';

export interface PanelProps {
  window: ReportWindow;
  filters: ReportFilters;
  /** Changes some filters (kept in the page's URL). */
  setFilters: (changes: Partial<ReportFilters>) => void;
}

/**
 * A report's query: the window and the time zone (empty: the site's), the minimum session
 * duration for the reports that take it, and the report's own parameters.
 */
export function reportQuery({ window, filters }: PanelProps, takesMinimum: boolean, own: Record<string, QueryValue> = {}): Record<string, QueryValue> {
  return {
    from_ts: window.from_ts,
    to_ts: window.to_ts,
    time_zone: filters.tz,
    min_duration_seconds: takesMinimum ? filters.min : undefined,
    ...own,
  };
}

/** The chosen id, else the first of the list (as the original console preselected). */
export function chosenOrFirst(chosen: string, list: { id: number }[] | null): string {
  if (chosen && list?.some((item) => String(item.id) === chosen)) return chosen;
  return list?.length ? String(list[0].id) : '';
}
