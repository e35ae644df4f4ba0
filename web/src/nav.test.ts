import { describe, expect, it } from 'vitest';
import { visibleNav } from './nav';

describe('visibleNav', () => {
  const paths = (admin: boolean) => visibleNav(admin).flatMap((s) => s.items.map((i) => i.path));

  it('shows administration only to administrators', () => {
    expect(paths(true)).toContain('/users');
    expect(paths(true)).toContain('/mqtt');
    expect(paths(false)).not.toContain('/users');
    expect(paths(false)).not.toContain('/mqtt');
  });

  it('drops sections left empty', () => {
    expect(visibleNav(false).every((s) => s.items.length > 0)).toBe(true);
  });
});
