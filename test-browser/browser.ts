// Launching Debian's Chromium headless with playwright-core, on the app served by `startServer`.
// Shared by the browser tests (app.test.ts) and the speed script (tools/web-speed.mjs uses the
// compiled copy). Playwright gives every launch a fresh temporary profile (--user-data-dir).

import { existsSync } from 'node:fs';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type RunningServer, startServer } from '../src/cli/serve.js';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) or set CHROMIUM`;
}

export interface AppPage {
  server: RunningServer;
  browser: Browser;
  page: Page;
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[];
  close(): Promise<void>;
}

/** Serves the app (with or without COOP/COEP), opens it in a fresh headless Chromium and waits until its engine is ready. */
export async function openApp(o: { isolation?: boolean; timeoutMs?: number; query?: string } = {}): Promise<AppPage> {
  const server = await startServer({ port: 0, isolation: o.isolation ?? true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: o.timeoutMs ?? 120000 });
  const page = await browser.newPage();
  page.setDefaultTimeout(o.timeoutMs ?? 120000);
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  await page.goto(server.url + (o.query ?? ''), { waitUntil: 'load' });
  await page.evaluate(() => (globalThis as unknown as { resnetApp: { ready: Promise<unknown> } }).resnetApp.ready);
  return {
    server, browser, page, errors,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** Sends a request to the app's worker (protocol.ts) and returns its reply. */
export function request<T>(page: Page, req: object): Promise<T> {
  return page.evaluate((r) => (globalThis as unknown as { resnetApp: { request(r: object): Promise<unknown> } }).resnetApp.request(r), req) as Promise<T>;
}

/** The page's save: the .safetensors bytes it would download. */
export async function savedBytes(app: AppPage): Promise<Buffer> {
  const base64 = await app.page.evaluate(async () => {
    const r = await (globalThis as unknown as { resnetApp: { request(r: object): Promise<{ bytes: ArrayBuffer }> } }).resnetApp.request({ type: 'save' });
    const bytes = new Uint8Array(r.bytes);
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  });
  return Buffer.from(base64, 'base64');
}
