/**
 * The error page's big status numeral is readable (issue 10, item 7: it was #c3cad4 on the page
 * background, 1.52:1). Computed from public/app.css the way WCAG 2 defines contrast.
 */
import fs from 'node:fs';
import path from 'node:path';

const css = fs.readFileSync(path.join(__dirname, '..', '..', 'public', 'app.css'), 'utf8');

/** The value of a declaration in the first rule for `selector`, with var(--x) resolved from :root. */
function declared(selector: string, property: string): string {
  const rule = new RegExp(`(?:^|\\n)\\s*${selector.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\{([^}]*)\\}`).exec(css)?.[1];
  if (!rule) throw new Error(`no rule for ${selector}`);
  const value = new RegExp(`(?:^|;)\\s*${property}\\s*:\\s*([^;]+)`).exec(rule)?.[1]?.trim();
  if (!value) throw new Error(`${selector} declares no ${property}`);
  const variable = /^var\((--[\w-]+)\)$/.exec(value)?.[1];
  return variable ? declared(':root', variable) : value;
}

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

test('the contrast formula matches WCAG (black on white is 21:1; the old numeral was about 1.5:1)', () => {
  expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
  expect(contrast('#c3cad4', '#f5f6f8')).toBeCloseTo(1.53, 2);
});

test('the error page numeral reaches 4.5:1 on the page background (more than large text needs)', () => {
  const color = declared('.error-status', 'color');
  const background = declared('body', 'background');
  expect(color).toMatch(/^#[0-9a-f]{6}$/i);
  expect(contrast(color, background)).toBeGreaterThanOrEqual(4.5);
});

test('every chart tone stands out from the card at 3:1 (WCAG 1.4.11, graphics), and the refused text reads at 4.5:1', () => {
  const card = declared('.card', 'background');
  const tones = ['ok', 'failed', 'closed', 'r1', 'r2', 'r3', 'r4'].map((tone) => [tone, declared(`.tone-${tone}`, 'fill')]);
  for (const [tone, fill] of tones) {
    expect({ tone, fill }).toEqual({ tone, fill: expect.stringMatching(/^#[0-9a-f]{6}$/i) });
    expect({ tone, enough: contrast(fill, card) >= 3 }).toEqual({ tone, enough: true });
  }
  // Seven distinct colours (patterns tell them apart too).
  expect(new Set(tones.map(([, fill]) => fill.toLowerCase())).size).toBe(7);
  expect(contrast(declared('.outcome-refused', 'color'), card)).toBeGreaterThanOrEqual(4.5);
});
