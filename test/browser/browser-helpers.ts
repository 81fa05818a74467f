/**
 * Real Chromium for browser suites: Debian's /usr/bin/chromium driven by playwright-core, with
 * the launch flags of NOTES.md and a fresh profile. Without Chromium the suites are skipped and
 * say so.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

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
