// The README's picture of the app: a short training run in headless Chromium, the Table 1 view and
// the Fig. 7 layer responses, then a screenshot of the whole page into docs/web-app.png.
//
//   npm run build && node tools/web-screenshot.mjs [--steps N] [--out FILE]
import { parseArgs } from 'node:util';
import { chromiumMissing, openApp } from '../dist/test-browser/browser.js';

const { values } = parseArgs({ options: { steps: { type: 'string' }, out: { type: 'string' } } });
const steps = Number(values.steps ?? 80);
const missing = chromiumMissing();
if (missing) {
  console.error(`web-screenshot: ${missing}`);
  process.exit(1);
}
const app = await openApp({ timeoutMs: 1800000 });
try {
  const { page } = app;
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.fill('input[name=epochs]', '1');
  await page.fill('input[name=batch]', '32');
  // The Train button's own path, with a step limit (the run then stops as Stop would).
  await page.evaluate((n) => globalThis.resnetApp.train({
    net: 'resnet20', epochs: 1, batchSize: 32, lr: 0.05, seed: 0, augment: false, evalsPerEpoch: 16, maxSteps: n, testLimit: 500,
  }), steps);
  await page.click('#summary');
  await page.waitForSelector('#summary-table table');
  await page.click('#responses');
  await page.waitForSelector('#chart-responses svg');
  await page.waitForFunction(() => /layer responses of/.test(document.getElementById('status')?.textContent ?? ''));
  // A drawn shape to classify.
  await page.locator('#draw').scrollIntoViewIfNeeded();
  const box = await page.locator('#draw').boundingBox();
  await page.mouse.move(box.x + 90, box.y + 60);
  await page.mouse.down();
  for (const [x, y] of [[190, 60], [200, 230], [80, 230], [90, 60]]) await page.mouse.move(box.x + x, box.y + y, { steps: 12 });
  await page.mouse.up();
  await page.click('#classify');
  await page.waitForSelector('#top5 li');
  const out = values.out ?? 'docs/web-app.png';
  await page.screenshot({ path: out, fullPage: true });
  console.log(`web-screenshot: ${out} (${steps} steps); console errors: ${app.errors.length ? app.errors.join('; ') : 'none'}`);
} finally {
  await app.close();
}
