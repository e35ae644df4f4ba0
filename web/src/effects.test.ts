import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// React takes whatever an effect returns for its clean-up and calls it. An arrow with an
// expression body returns its value: `useEffect(() => el.scrollIntoView())` blanked the
// incident page once a browser's scrollIntoView returned a promise. Effects get a block.
const expressionEffect = /use(?:Layout)?Effect\(\s*(?:async\s*)?\(\)\s*=>(?!\s*\{)/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.includes('.test.') ? [path] : [];
  });
}

describe('effects', () => {
  it('have block bodies, so that they return nothing but a clean-up', () => {
    const offenders = sources(fileURLToPath(new URL('.', import.meta.url))).filter((path) =>
      expressionEffect.test(readFileSync(path, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it('are caught when written as an expression', () => {
    expect(expressionEffect.test('useEffect(() => end.current?.scrollIntoView(), [n]);')).toBe(true);
    expect(expressionEffect.test('useEffect(() => {\n  load();\n}, []);')).toBe(false);
  });
});
