/**
 * A real headless Chromium (Debian's `chromium`, driven by playwright-core) for the web UI's tests.
 * Every browser process it starts carries a marker switch, and `close()` kills any left over (also
 * after a failed test or a hung browser), so no test leaves a browser behind.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface TestBrowser {
  browser: Browser;
  /** A new page (own context: own sessionStorage) of this size. */
  page(size?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/** Pids of processes whose command line contains `marker`. */
async function pidsWith(marker: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes(marker)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const marker = `--dabba-test-browser=${randomUUID()}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container: Chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-dev-shm-usage', marker],
    timeout: 60_000,
  });
  return {
    browser,
    async page(size = { width: 1280, height: 800 }) {
      const context = await browser.newContext({ viewport: size });
      return context.newPage();
    },
    async close() {
      await Promise.race([
        browser.close().catch(() => undefined),
        new Promise((r) => setTimeout(r, 10_000).unref()),
      ]);
      for (const pid of await pidsWith(marker)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}
