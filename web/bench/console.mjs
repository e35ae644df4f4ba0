// Console benchmark (figures in ../BENCHMARKS.md):
//   npm run build && SV_BIN=../target/release/securityvision npm run bench
// 1. the weight of the built JS and CSS, gzipped;
// 2. the live map's frame rate with 500 tags moving: the real appliance, `securityvision
//    simulate` walking 500 tags among 6 placed gateways, the map open in Debian's Chromium
//    (headless, software rendering) at 1280×720, frames counted for 10 s.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startAppliance } from '../e2e/appliance.mjs';

const webDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const TAGS = 500;

const assets = path.join(webDir, 'dist', 'assets');
let gzipped = 0;
for (const file of readdirSync(assets).filter((f) => /\.(js|css)$/.test(f))) {
  gzipped += gzipSync(readFileSync(path.join(assets, file))).length;
}
console.log(`console JS+CSS: ${(gzipped / 1024).toFixed(1)} KiB gzipped`);

const app = await startAppliance();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'sv-console-bench-'));
const adminFile = path.join(scratch, 'admin');
const gatewayFile = path.join(scratch, 'gateway');
writeFileSync(adminFile, app.adminPassword);
writeFileSync(gatewayFile, app.gatewayPassword);
const binary = path.resolve(webDir, process.env.SV_BIN ?? '../target/debug/securityvision');
const simulate = (seconds, extra = []) =>
  new Promise((resolve) => {
    const args = ['simulate', '--mqtt', `127.0.0.1:${app.mqttPort}`, '--password-file', gatewayFile,
      '--tags', String(TAGS), '--gateways', '6', '--width', '30', '--height', '20', '--rate', '1',
      '--duration', String(seconds), ...extra];
    spawn(binary, args, { stdio: 'ignore', cwd: scratch }).on('exit', resolve);
  });
const api = async (method, apiPath, body, token) => {
  const response = await fetch(`${app.baseUrl}/api/v1${apiPath}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${apiPath}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? null : response.json();
};

try {
  const { access_token: token } = await api('POST', '/auth/login', { email: app.adminEmail, password: app.adminPassword });
  const building = await api('POST', '/buildings', { name: 'Bench', code: 'BENCH' }, token);
  const floor = await api('POST', '/floors', { name: 'Ground', building_id: building.id }, token);
  const plan = await api('POST', '/floor-plans', { name: 'Hall', floor_id: floor.id, width_m: 30, height_m: 20 }, token);
  // A short run registers the tags and lets the gateways register themselves; then they
  // are placed where the simulator has them (a 3 × 2 grid).
  await simulate(3, ['--api', app.baseUrl, '--admin-password-file', adminFile]);
  const gateways = await api('GET', '/devices?type=BLE_GATEWAY', null, token);
  for (const [i, gateway] of gateways.entries()) {
    const [column, row] = [i % 3, Math.floor(i / 3)];
    await api('PATCH', `/devices/${gateway.id}/position`, { floor_plan_id: plan.id, pos_x: (column + 0.5) / 3, pos_y: (row + 0.5) / 2 }, token);
  }
  const walking = simulate(40);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.addInitScript((t) => sessionStorage.setItem('sv.token', t), token);
  await page.goto(`${app.baseUrl}/`);
  await page.waitForTimeout(8000); // every tag heard, every marker drawn
  const stats = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const gaps = [];
        let longTasks = 0;
        new PerformanceObserver((list) => (longTasks += list.getEntries().length)).observe({ type: 'longtask' });
        let last = performance.now();
        const end = last + 10_000;
        const frame = (now) => {
          gaps.push(now - last);
          last = now;
          if (now < end) return requestAnimationFrame(frame);
          gaps.sort((a, b) => a - b);
          resolve({
            markers: document.querySelectorAll('.tag-marker').length,
            frames: gaps.length,
            p99: gaps[Math.floor(gaps.length * 0.99)],
            max: gaps[gaps.length - 1],
            longTasks,
          });
        };
        requestAnimationFrame(frame);
      }),
  );
  console.log(
    `live map, ${stats.markers} markers moving: ${stats.frames} frames in 10 s, ` +
      `p99 frame gap ${stats.p99.toFixed(1)} ms, max ${stats.max.toFixed(1)} ms, ${stats.longTasks} long tasks`,
  );
  await browser.close();
  await walking;
} finally {
  await app.stop();
}
