import { createElement, type ReactElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { I18nContext, formatAgo, translate } from '../i18n/i18n';
import { AreaChart, BarChart } from './Charts';

/** The chart as HTML, in English. */
function render(chart: ReactElement): string {
  const i18n = { language: 'en' as const, setLanguage: () => {}, t: (key: Parameters<typeof translate>[1], params?: Record<string, string | number>) => translate('en', key, params), ago: (then: string | null) => formatAgo('en', then) };
  return renderToStaticMarkup(createElement(I18nContext.Provider, { value: i18n }, chart));
}

const count = (html: string, pattern: RegExp) => html.match(pattern)?.length ?? 0;

describe('charts', () => {
  it('draws a bar per non-empty bucket, says its peak, and keeps every number in a table', () => {
    const html = render(
      createElement(BarChart, {
        title: 'Dwell by hour',
        axis: 'Hour',
        labels: ['08h', '09h', '10h'],
        series: [{ name: 'Dwell', values: [1800, 0, 3600] }],
        scale: 'duration',
      }),
    );
    expect(html).toContain('role="img" aria-label="Dwell by hour: 3 intervals; the highest, 1 h, at 10h."');
    expect(count(html, /<rect /g)).toBe(2);
    expect(html).toContain('<title>08h · Dwell: 30 min</title>');
    // The table is there (for print and screen readers), hidden until asked for.
    expect(html).toMatch(/class="chart-data table-wrap collapsed"/);
    expect(html).toContain('<th scope="row">09h</th><td>0 s</td>');
    expect(html).toContain('aria-expanded="false"');
    // A single series needs no legend.
    expect(html).not.toContain('chart-legend');
  });

  it('stacks series with a legend', () => {
    const html = render(
      createElement(BarChart, {
        title: 'Hour by gateway',
        axis: 'Hour',
        labels: ['09h'],
        series: [
          { name: 'Gateway A', values: [60] },
          { name: 'Gateway B', values: [120] },
        ],
        scale: 'duration',
      }),
    );
    expect(count(html, /<rect /g)).toBe(2);
    expect(html).toContain('chart-legend');
    expect(html).toContain('<td>1 min</td><td>2 min</td>');
  });

  it('says when there is nothing to draw', () => {
    const html = render(createElement(AreaChart, { title: 'Occupancy', axis: 'Period', labels: ['a', 'b'], series: [{ name: 'People', values: [0, 0] }], scale: 'count' }));
    expect(html).toContain('aria-label="Occupancy: no data in the window."');
    expect(html).toContain('class="chart-area"');
  });
});
