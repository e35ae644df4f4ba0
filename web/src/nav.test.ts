import { describe, expect, it } from 'vitest';
import { visibleNav } from './nav';

describe('visibleNav', () => {
  const paths = (admin: boolean) => visibleNav(admin).flatMap((s) => s.items.map((i) => i.path));

  it('shows administration only to administrators', () => {
    for (const admin of ['/users', '/mqtt', '/webhooks']) {
      expect(paths(true)).toContain(admin);
      expect(paths(false)).not.toContain(admin);
    }
  });

  it('shows the calibration page to everyone (operators record points, administrators fit)', () => {
    expect(paths(false)).toContain('/calibration');
  });

  it('drops sections left empty', () => {
    expect(visibleNav(false).every((s) => s.items.length > 0)).toBe(true);
  });
});
