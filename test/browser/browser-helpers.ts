/**
 * Real Chromium for browser suites: Debian's /usr/bin/chromium driven by playwright-core, with
 * the launch flags of NOTES.md and a fresh profile. Without Chromium the suites are skipped and
 * say so.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = fs.existsSync(CHROMIUM);

/** `describe` for browser suites: skipped, with a notice, when Chromium is not installed. */
export const describeBrowser = hasChromium ? describe : describe.skip;

if (!hasChromium) {
  process.stderr.write(
    `\n[keyward] Browser tests SKIPPED: ${CHROMIUM} not found (install it with: apt-get install -y chromium).\n`,
  );
}

/** Where screenshots go (gitignored). */
export const SCREENSHOT_DIR = path.join(__dirname, '..', '..', 'test-output', 'screenshots');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A Chromium with a fresh profile; close() removes the profile. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** One axe-core rule a page breaks, and where. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * axe-core's violations on the page as it is now. axe is injected by CDP evaluation: the page's
 * CSP allows no script injection (page.addScriptTag is blocked).
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate<AxeViolation[]>(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })))`,
  );
}

/**
 * At 375 px (a phone) each page fits the width: no sideways scrolling. Visits `pages` (name, URL),
 * measures the overflow, calls `shot(name-375)`, and restores the 1440 px viewport.
 */
export async function expectNoOverflowAt375(page: Page, pages: [string, string][], shot: (name: string) => Promise<unknown>): Promise<void> {
  await page.setViewportSize({ width: 375, height: 812 });
  for (const [name, url] of pages) {
    await page.goto(url);
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect({ page: name, overflow }).toEqual({ page: name, overflow: 0 });
    await shot(`${name}-375`);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
}
