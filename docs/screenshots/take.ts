/**
 * The README's screenshots of the web client, taken with Debian's headless Chromium:
 *
 *   npm start   # in another terminal (MULTIPART_THRESHOLD_BYTES=5242880 shows multipart progress sooner)
 *   node --import tsx docs/screenshots/take.ts http://127.0.0.1:8000
 *
 * Signs up a fresh demo account, so it can run against every local instance.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const app = (process.argv[2] ?? 'http://127.0.0.1:8000').replace(/\/$/, '');
const out = __dirname;

async function main(): Promise<void> {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ viewport: { width: 900, height: 720 }, colorScheme: 'light' });
  await context.grantPermissions(['clipboard-write'], { origin: app });
  const page = await context.newPage();
  const shot = async (name: string, fullPage = false) => {
    await page.screenshot({ path: path.join(out, `${name}.png`), fullPage });
    console.log(`${name}.png: ${fs.statSync(path.join(out, `${name}.png`)).size} bytes`);
  };

  await page.goto(`${app}/`);
  await page.getByLabel('Email').fill(`demo-${randomBytes(3).toString('hex')}@example.com`);
  await page.getByLabel('Password', { exact: true }).fill('SecurePassword123!');
  await shot('sign-in');

  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-shots-'));
  // Contents that match their names: the API checks declared types against the bytes.
  const contents: Record<string, Buffer> = {
    'quarterly-report.pdf': Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(180_000)]),
    'budget-2026.csv': Buffer.from('month,amount\n'.concat('jan,100\n'.repeat(3000))),
    'meeting-notes.txt': Buffer.from('Notes\n'.repeat(900)),
  };
  const files = Object.entries(contents).map(([name, bytes]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  });
  await page.getByLabel('File', { exact: true }).setInputFiles(files);
  await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('list', { name: 'Files' }).getByRole('listitem').nth(2).waitFor();

  // A large file on a slow uplink: caught mid-way.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1024 * 1024 });
  const large = path.join(dir, 'holiday-video.mp4');
  fs.writeFileSync(large, randomBytes(12 * 1024 * 1024));
  await page.getByLabel('File', { exact: true }).setInputFiles(large);
  await page.getByRole('button', { name: 'Upload' }).click();
  const bar = page.getByRole('progressbar', { name: 'holiday-video.mp4' });
  while (Number(await bar.getAttribute('aria-valuenow')) < 35) await page.waitForTimeout(100);
  await shot('files-upload', true);
  await page.getByRole('button', { name: 'Cancel holiday-video.mp4' }).click();
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  await page.getByRole('list', { name: 'Files' }).getByRole('listitem').filter({ hasText: 'quarterly-report.pdf' }).getByRole('button', { name: 'Share' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Expires after').selectOption({ label: '7 days' });
  await dialog.getByLabel('Maximum downloads (optional)').fill('10');
  await dialog.getByRole('button', { name: 'Create link' }).click();
  await dialog.getByRole('button', { name: 'Copy link' }).click();
  await dialog.getByText('Link copied to the clipboard').waitFor();
  await shot('share-dialog');
  await dialog.getByRole('button', { name: 'Close' }).click();

  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
  await page.setViewportSize({ width: 420, height: 900 });
  await page.getByRole('heading', { name: 'Two-factor authentication' }).scrollIntoViewIfNeeded();
  await shot('account-phone');

  await browser.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
