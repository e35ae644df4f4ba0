// The console against the real appliance: sign in, set up a site, place two gateways by
// dragging, register a tag heard over MQTT, and watch its marker appear and move live; then
// a camera collector reports, a camera placed by the tag records events (one live) that
// list the person nearby, a gateway's calibration is refused out of range, a webhook
// subscription shows its secret once and its delivery log; a zone is drawn and a ZONE_ENTER
// alert arrives live when the tag walks in; an incident opened from a camera event gets a
// message and an image in its timeline; the reports show the tag's walk, as charts, CSV and
// print; a calibration: a tag stands at three points typed in metres while the test publishes
// what gateways of a known path-loss model hear, the fit recovers the model and an
// administrator applies it; on the demo site, after its people walked for a few simulated
// minutes, the live map shows a heat map and replays the walk.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startAppliance } from './appliance.mjs';

const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
const GATEWAY_A = 'AC233F0000A1';
const GATEWAY_B = 'AC233F0000B2';
const TAG = 'AA:BB:CC:DD:EE:01';
const NEW_PASSWORD = 'console-e2e-password';
const CALIBRATION_TAG = 'AA:BB:CC:DD:EE:0C';

/** A plain light-grey PNG with a darker border: enough to be a floor plan. */
function planPng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      const edge = x < 4 || y < 4 || x >= width - 4 || y >= height - 4 || x === Math.floor(width / 2);
      row.fill(edge ? 90 : 235, 1 + x * 3, 4 + x * 3);
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let appliance;
let browser;
let page;
let adminToken;
let collectorSecret;

/** The appliance's API as the administrator, for what the test sets up behind the console. */
async function callApi(method, apiPath, body) {
  adminToken ??= (
    await callApiAs(null, 'POST', '/auth/login', { email: appliance.adminEmail, password: NEW_PASSWORD })
  ).access_token;
  return callApiAs(adminToken, method, apiPath, body);
}

async function callApiAs(token, method, apiPath, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${appliance.baseUrl}/api/v1${apiPath}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${apiPath}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  appliance = await startAppliance();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'pt-BR' });
  page = await context.newPage();
  page.on('dialog', (dialog) => dialog.accept());
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
});

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Fills the input labelled `label` (required fields add " *" to their label). */
async function fill(scope, label, value) {
  await scope.getByLabel(new RegExp(`^${escape(label)}( \\*)?$`)).fill(value);
}

/** Opens the dialog of the button named `create`, fills it (label → value), then `more`, and saves. */
async function createWith(create, fields, more = async () => {}) {
  await page.getByRole('button', { name: create }).click();
  const dialog = page.getByRole('dialog');
  for (const [label, value] of Object.entries(fields)) await fill(dialog, label, value);
  await more(dialog);
  await dialog.getByRole('button', { name: 'Salvar' }).click();
}

/** One named stage of the scenario; the first failing stage ends the test. */
async function step(name, body) {
  console.log(`# step: ${name}`);
  await body();
}

/**
 * On the demo site, with the simulator walking its people: wait for a few minutes of history,
 * then the heat map and the replay on the live map, then back to live.
 */
async function demoWalk() {
  const office = (await callApi('GET', '/floor-plans?limit=1000')).find((p) => p.name === 'Open office');
  const walked = (track) => track.points.length > 1 && Date.parse(track.points.at(-1).ts) - Date.parse(track.points[0].ts) >= 120_000;
  let tracks = [];
  for (let i = 0; i < 60 && !tracks.some(walked); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const to = new Date();
    const from = new Date(to.getTime() - 3_600_000);
    ({ tracks } = await callApi('GET', `/positions/history?floor_plan_id=${office.id}&from_ts=${from.toISOString()}&to_ts=${to.toISOString()}`));
  }
  assert.ok(tracks.some(walked), `two minutes of the walk recorded (${tracks.map((t) => t.points.length).join(', ')} points)`);

  await page.getByRole('link', { name: 'Mapa ao vivo' }).click();
  await page.locator('#map-building').selectOption({ label: 'Demo HQ' });
  await page.locator('#map-floor').selectOption({ label: 'Ground floor' });
  await page.locator('#map-plan').selectOption({ label: 'Open office' });
  await page.getByRole('img', { name: 'Planta Open office' }).waitFor();

  // The heat map of the last 24 hours: cells drawn over the plan, and the busiest areas in words.
  await page.getByRole('checkbox', { name: 'Mapa de calor' }).check();
  const cells = page.locator('[data-testid="heatmap"] rect');
  await cells.first().waitFor();
  assert.ok((await cells.count()) >= 5, `cells drawn (${await cells.count()})`);
  assert.match(await page.getByTestId('heatmap-summary').textContent(), /pessoa\(s\).*Áreas mais ocupadas:.+\d+ %/);
  await page.screenshot({ path: path.join(shots, 'heatmap.png'), fullPage: true });
  await page.getByRole('checkbox', { name: 'Mapa de calor' }).uncheck();

  // The replay of the last hour, from the first recorded point, at 60×: the markers move.
  await page.getByRole('radio', { name: 'Reprodução' }).check();
  const play = page.getByRole('button', { name: 'Reproduzir' });
  await play.waitFor();
  await page.getByLabel('Velocidade').selectOption('60');
  const markers = page.locator('.replay-layer .tag-marker');
  await markers.first().waitFor();
  const places = () => markers.evaluateAll((all) => all.map((m) => `${m.dataset.tagId}@${m.dataset.x},${m.dataset.y}`).sort().join(' '));
  const before = await places();
  const startedAt = await page.getByTestId('replay-time').textContent();
  await play.click();
  let now = before;
  for (let i = 0; i < 20 && now === before; i++) {
    await page.waitForTimeout(250);
    now = await places();
  }
  assert.notEqual(now, before, 'a marker moved during the replay');
  assert.notEqual(await page.getByTestId('replay-time').textContent(), startedAt, 'the replayed time went on');
  assert.ok((await page.locator('.replay-trails polyline').count()) > 0, 'trails drawn');
  await page.screenshot({ path: path.join(shots, 'replay.png') });

  // Back to live: the replay's markers go, the live ones are there.
  await page.getByRole('radio', { name: 'Ao vivo' }).check();
  await page.locator('.live-layer .tag-marker').first().waitFor();
  assert.equal(await markers.count(), 0);
}

/**
 * The calibration page on the test's plan (40 × 20 m, gateways A and B on its middle line):
 * the tag stands at three points on that line (no mirror image for two gateways), and for
 * each window the test publishes what the gateways hear in a world of −62 dBm at 1 m and
 * exponent 2.2 (gateways 2.5 m above the tag, the appliance's default), rounded to whole
 * dBm as gateways report. The fit must find that world; then it is applied.
 */
async function calibrate() {
  const tag = await callApi('POST', '/tags', { mac_address: CALIBRATION_TAG, label: 'Calibração' });
  const plan = (await callApi('GET', '/floor-plans?limit=1000')).find((p) => p.name === 'Térreo – planta');
  const gateways = (await callApi('GET', `/floor-plans/${plan.id}/devices`)).filter((d) => d.type === 'BLE_GATEWAY');
  const at = (g) => ({ mac: g.mac_address.replace(/:/g, ''), x: g.pos_x * plan.width_m, y: g.pos_y * plan.height_m, id: g.id, name: g.name });
  const [a, b] = gateways.map(at).sort((p, q) => p.x - q.x);
  const rssi = (g, p) => Math.round(-62 - 22 * Math.log10(Math.hypot(g.x - p.x, g.y - p.y, 2.5)));

  await page.getByRole('navigation', { name: 'Menu principal' }).getByRole('link', { name: 'Calibração' }).click();
  await page.locator('#calib-building').selectOption({ label: 'Sede' });
  await page.locator('#calib-floor').selectOption({ label: 'Térreo' });
  await page.locator('#calib-plan').selectOption({ label: 'Térreo – planta' });
  const onPlan = page.getByTestId('calibration-plan');
  await onPlan.locator('[data-device-id]').nth(1).waitFor();
  await page.getByLabel('Tag carregada (id ou MAC)').fill(CALIBRATION_TAG);
  await page.getByText(`#${tag.id} · ${CALIBRATION_TAG}`).waitFor();

  const metres = (v) => Math.round(v * 100) / 100;
  const standing = [2, (a.x + b.x) / 2, plan.width_m - 2].map((x) => ({ x: metres(x), y: metres(a.y) }));
  for (const [i, p] of standing.entries()) {
    // Clicked roughly where the point is, then its metres typed exactly.
    const box = await onPlan.boundingBox();
    await page.mouse.click(box.x + (box.width * p.x) / plan.width_m, box.y + (box.height * p.y) / plan.height_m);
    const item = page.locator('.calibration-points li').nth(i);
    await item.getByLabel('x (m)').fill(String(p.x));
    await item.getByLabel('y (m)').fill(String(p.y));
    await item.getByRole('button', { name: 'Iniciar' }).click();
    await item.getByText('gravando').waitFor();
    for (let n = 0; n < 6; n++) {
      await appliance.publish(a.mac, [{ tag_mac: CALIBRATION_TAG, rssi: rssi(a, p) }]);
      await appliance.publish(b.mac, [{ tag_mac: CALIBRATION_TAG, rssi: rssi(b, p) }]);
    }
    // The page counts the readings of the window as they are stored, then the window closes.
    await item.getByText('12 leituras de 2 gateways').waitFor({ timeout: 20_000 });
    await item.getByRole('button', { name: 'Parar' }).click();
    await item.getByText('gravado', { exact: true }).waitFor();
  }

  await page.getByRole('button', { name: 'Ajustar' }).click();
  const result = page.getByRole('region', { name: 'Resultado do ajuste' });
  for (const g of [a, b]) {
    const row = result.locator(`tr[data-gateway-id="${g.id}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[1], '18', `${g.name}: samples`);
    const fitted = (text) => Number(text.split(' ')[0].replace('−', '-'));
    assert.ok(Math.abs(fitted(cells[3]) + 62) <= 1.5, `${g.name}: rssi_at_1m ${cells[3]}`);
    assert.ok(Math.abs(fitted(cells[5]) - 2.2) <= 0.15, `${g.name}: exponent ${cells[5]}`);
  }
  assert.equal(await result.locator('tr[data-point-number]').count(), 3);
  assert.match(await result.getByTestId('calibration-totals').textContent(), /Erro médio antes\d+\.\d\d mErro médio depois\d+\.\d\d m/);
  await onPlan.locator('.calibration-rings').first().waitFor({ state: 'attached' });
  await page.screenshot({ path: path.join(shots, 'calibration.png'), fullPage: true });

  // Applied after a confirmation: the gateways carry the fitted values.
  await page.getByRole('button', { name: 'Aplicar' }).click();
  const dialog = page.getByRole('dialog', { name: 'Aplicar a calibração' });
  await dialog.getByRole('button', { name: 'Aplicar' }).click();
  await result.getByText('Aplicado: 2 gateways usam os valores ajustados.').waitFor();
  const saved = await callApi('GET', `/devices/${a.id}`);
  assert.ok(Math.abs(saved.rssi_at_1m + 62) <= 1.5 && Math.abs(saved.path_loss_exponent - 2.2) <= 0.15, `saved: ${saved.rssi_at_1m} / ${saved.path_loss_exponent}`);
}

test('sign in, set up a site, follow a tag live on the map, and see who was near a camera', async () => {
  try {
    await step('sign-in asks for a new password first', async () => {
      await page.goto(appliance.baseUrl + '/');
      await page.waitForURL('**/login');
      await page.screenshot({ path: path.join(shots, 'login.png') });
      await fill(page, 'E-mail', appliance.adminEmail);
      await fill(page, 'Senha', 'wrong-password');
      await page.getByRole('button', { name: 'Entrar' }).click();
      await page.getByRole('alert').waitFor();
      await fill(page, 'Senha', appliance.adminPassword);
      await page.getByRole('button', { name: 'Entrar' }).click();
      await page.waitForURL('**/account/password');
      await fill(page, 'Senha atual', appliance.adminPassword);
      await fill(page, 'Nova senha', 'short');
      await fill(page, 'Repita a nova senha', 'short');
      await page.getByRole('button', { name: 'Alterar senha' }).click();
      // The API's 422 lands next to the field it names.
      await page.locator('#password-new_password-error').waitFor();
      await fill(page, 'Nova senha', NEW_PASSWORD);
      await fill(page, 'Repita a nova senha', NEW_PASSWORD);
      await page.getByRole('button', { name: 'Alterar senha' }).click();
      await page.getByText('Senha alterada.').waitFor();
    });

    await step('building, floor and plan with an image and a size', async () => {
      await page.getByRole('link', { name: 'Prédios e plantas' }).click();
      await createWith('Novo prédio', { Nome: 'Sede', Código: 'SEDE' });
      await page.getByRole('button', { name: 'Sede', exact: true }).click();

      await createWith('Novo andar', { Nome: 'Térreo', Nível: '0' });
      await page.getByRole('button', { name: 'Térreo', exact: true }).click();

      await createWith('Nova planta', { Nome: 'Térreo – planta', 'Largura (m)': '40', 'Altura (m)': '20' }, (dialog) =>
        dialog.getByLabel('Imagem da planta').setInputFiles({ name: 'plan.png', mimeType: 'image/png', buffer: planPng(800, 400) }),
      );
      await page.getByRole('cell', { name: '40 × 20 m', exact: true }).waitFor();
      await page.locator('[data-testid="plan-editor"] img').waitFor();
    });

    await step('gateways heard over MQTT are dragged onto the plan', async () => {
      await appliance.publish(GATEWAY_A, [{ tag_mac: TAG, rssi: -60 }]);
      await appliance.publish(GATEWAY_B, [{ tag_mac: TAG, rssi: -60 }]);
      // The editor lists devices when opened: reopen it to see the new gateways.
      const editorUrl = page.url();
      await page.goto(editorUrl);
      await page.getByRole('button', { name: 'Sede', exact: true }).click();
      await page.getByRole('button', { name: 'Térreo', exact: true }).click();
      await page.getByRole('button', { name: 'Térreo – planta', exact: true }).click();
      const plan = page.locator('[data-testid="plan-editor"]');
      await plan.locator('img').waitFor();
      for (const [mac, fx] of [[GATEWAY_A, 0.15], [GATEWAY_B, 0.85]]) {
        const name = `Gateway ${mac.match(/../g).join(':')}`;
        const item = page.locator('[data-palette-device-id]', { hasText: name });
        const from = await item.boundingBox();
        const to = await plan.boundingBox();
        await page.mouse.move(from.x + 10, from.y + from.height / 2);
        await page.mouse.down();
        await page.mouse.move(to.x + to.width * 0.5, to.y + to.height * 0.5, { steps: 5 });
        await page.mouse.move(to.x + to.width * fx, to.y + to.height * 0.5, { steps: 5 });
        await page.mouse.up();
        await plan.getByRole('button', { name: new RegExp(name) }).waitFor();
      }
      await page.screenshot({ path: path.join(shots, 'site-setup.png'), fullPage: true });
    });

    await step('a person gets the tag from the unknown-tags list', async () => {
      await page.getByRole('link', { name: 'Pessoas e grupos' }).click();
      await createWith('Nova pessoa', { 'Nome completo': 'Ana Souza' });
      await page.getByRole('cell', { name: 'Ana Souza', exact: true }).waitFor();

      await page.getByRole('link', { name: 'Tags BLE' }).click();
      await page.getByRole('button', { name: `Cadastrar ${TAG}` }).click();
      const register = page.getByRole('dialog');
      await register.getByLabel('Pessoa').selectOption({ label: 'Ana Souza' });
      await fill(register, 'Rótulo', 'Crachá 01');
      await register.getByRole('button', { name: 'Cadastrar' }).click();
      await page.getByRole('cell', { name: 'Crachá 01', exact: true }).waitFor();
      await page.screenshot({ path: path.join(shots, 'tags.png'), fullPage: true });
    });

    await step('the marker appears on the live map and moves without a reload', async () => {
      await page.getByRole('link', { name: 'Mapa ao vivo' }).click();
      await page.getByRole('status').filter({ hasText: 'Ao vivo' }).waitFor();
      const marker = page.locator('.tag-marker');
      const nearA = [{ tag_mac: TAG, rssi: -45 }];
      const farA = [{ tag_mac: TAG, rssi: -85 }];
      const xOf = async () => Number(await marker.getAttribute('data-x'));

      for (let i = 0; i < 20 && (await marker.count()) === 0; i++) {
        await appliance.publish(GATEWAY_A, nearA);
        await appliance.publish(GATEWAY_B, farA);
        await page.waitForTimeout(300);
      }
      await marker.waitFor();
      assert.match(await marker.locator('text').textContent(), /Ana Souza/);
      const firstX = await xOf();
      assert.ok(firstX < 0.5, `starts near gateway A (x=${firstX})`);
      await marker.click();
      await page.getByRole('button', { name: 'Limpar seleção' }).waitFor();

      let x = firstX;
      for (let i = 0; i < 40 && x - firstX < 0.25; i++) {
        await appliance.publish(GATEWAY_B, nearA);
        await appliance.publish(GATEWAY_A, farA);
        await page.waitForTimeout(300);
        x = await xOf();
      }
      assert.ok(x - firstX >= 0.25, `moved towards gateway B (x went from ${firstX} to ${x})`);
      await page.waitForTimeout(800); // let the move animation settle for the screenshot
      await page.screenshot({ path: path.join(shots, 'live-map.png') });
      await page.setViewportSize({ width: 820, height: 1180 });
      await page.screenshot({ path: path.join(shots, 'live-map-tablet.png') });
      await page.setViewportSize({ width: 1280, height: 720 });
    });

    await step('devices and MQTT credentials', async () => {
      await page.getByRole('link', { name: 'Dispositivos' }).click();
      await page.getByRole('cell', { name: `Gateway ${GATEWAY_A.match(/../g).join(':')}`, exact: true }).waitFor();
      await page.screenshot({ path: path.join(shots, 'devices.png'), fullPage: true });
      await page.getByRole('link', { name: 'Credenciais MQTT' }).click();
      await createWith('Nova credencial', { 'Usuário MQTT': 'camera-collector' }, (dialog) => dialog.getByLabel('Papel').selectOption('COLLECTOR'));
      collectorSecret = await page.getByTestId('mqtt-secret').textContent();
      assert.ok(collectorSecret && collectorSecret.length >= 16, 'a generated secret is shown once');
      await page.getByRole('button', { name: 'Concluído' }).click();
      await page.getByRole('cell', { name: 'camera-collector', exact: true }).waitFor();
    });

    await step('a camera collector reports and is listed as alive', async () => {
      await appliance.publishAs('camera-collector', collectorSecret, 'rtls/cameras/acme/sede/collector/status', { status: 'online' });
      await page.getByRole('link', { name: 'Dispositivos' }).click();
      const collectors = page.getByRole('region', { name: 'Coletores de câmeras' });
      const row = collectors.getByRole('row', { name: /acme/ });
      for (let i = 0; i < 20 && (await row.count()) === 0; i++) {
        await page.waitForTimeout(250);
        await collectors.getByRole('button', { name: 'Atualizar' }).click();
      }
      assert.match(await row.textContent(), /sede.*Online.*online/);
    });

    await step('a camera by the tag lists its events and who was near, new ones live', async () => {
      await createWith('Nova câmera', { Nome: 'Entrada', Código: 'CAM-ENTRADA' });
      await page.getByRole('cell', { name: 'Entrada', exact: true }).waitFor();

      // Behind the console: put the camera where the tag is (fresh, so it counts as near).
      await appliance.publish(GATEWAY_B, [{ tag_mac: TAG, rssi: -45 }]);
      await appliance.publish(GATEWAY_A, [{ tag_mac: TAG, rssi: -85 }]);
      await page.waitForTimeout(300);
      const [here] = await callApi('GET', '/positions/current');
      const camera = (await callApi('GET', '/devices?type=CAMERA')).find((d) => d.name === 'Entrada');
      await callApi('PATCH', `/devices/${camera.id}/position`, { floor_plan_id: here.floor_plan_id, pos_x: here.x, pos_y: here.y });
      await callApi('POST', `/devices/cameras/${camera.id}/events`, {
        topic: 'manual', analytic_type: 'intrusion', payload: { SnapshotURL: 'http://10.20.0.7/snapshot/1.jpg' },
      });

      await page.getByRole('link', { name: 'Eventos de Entrada' }).click();
      await page.waitForURL(`**/devices/cameras/${camera.id}`);
      await page.getByText('/camera/cam-entrada/info').waitFor();
      const events = page.getByRole('region', { name: 'Eventos' });
      const stored = events.getByRole('row', { name: /intrusion/ });
      await stored.waitFor();
      assert.match(await stored.textContent(), /Ana Souza\s*[\d,]+ m/, 'the person nearby, with the distance');
      assert.equal(await stored.getByRole('link', { name: /Imagem/ }).getAttribute('href'), 'http://10.20.0.7/snapshot/1.jpg');

      // A face recognised while the page is open: prepended from the stream, no reload.
      await events.getByRole('status').filter({ hasText: 'Ao vivo' }).waitFor();
      await callApi('POST', `/devices/cameras/${camera.id}/events`, {
        topic: 'manual', analytic_type: 'faceRecognition', payload: { Meta: { person_name: 'Ana Souza' } },
      });
      const live = events.locator('tbody tr').first();
      await live.filter({ hasText: 'faceRecognition' }).waitFor();
      const cells = live.getByRole('cell');
      assert.equal(await cells.nth(2).textContent(), 'Ana Souza', 'the recognised person');
      assert.match(await cells.nth(3).textContent(), /Ana Souza/, 'and the person nearby');
      await live.getByText('Conteúdo').click();
      await live.getByText('"person_name": "Ana Souza"').waitFor();

      await page.getByRole('button', { name: 'Iniciar uplink' }).click();
      await page.getByRole('alert').filter({ hasText: 'proxy_path, central_path, central_media_mtx_ip' }).waitFor();
      await page.screenshot({ path: path.join(shots, 'camera-events.png'), fullPage: true });
    });

    await step('a gateway calibration out of range is refused next to its field', async () => {
      await page.getByRole('link', { name: '← Dispositivos' }).click();
      const gatewayName = `Gateway ${GATEWAY_A.match(/../g).join(':')}`;
      await page.getByRole('button', { name: `Editar ${gatewayName}` }).click();
      const dialog = page.getByRole('dialog');
      await fill(dialog, 'RSSI a 1 m (dBm)', '5');
      await dialog.getByRole('button', { name: 'Salvar' }).click();
      await dialog.locator('#gateways-rssi_at_1m-error').waitFor();
      await fill(dialog, 'RSSI a 1 m (dBm)', '-59');
      await fill(dialog, 'Expoente de perda de percurso', '2.2');
      await dialog.getByRole('button', { name: 'Salvar' }).click();
      await page.getByRole('cell', { name: '-59 dBm · n = 2.2', exact: true }).waitFor();
    });

    await step('a webhook for one event type: its secret once, and its delivery log', async () => {
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await createWith('Novo webhook', { Nome: 'Integrador', URL: 'http://127.0.0.1:9/x' }, async (dialog) => {
        await dialog.getByLabel('Todos os tipos de evento').uncheck();
        await dialog.getByLabel('PERSON_CREATED').check();
        await page.screenshot({ path: path.join(shots, 'webhook-form.png') });
      });
      // A loopback address is refused next to the URL (the appliance does not allow_private),
      // and so is a name that resolves to one.
      const dialog = page.getByRole('dialog');
      await dialog.locator('#webhooks-url-error').filter({ hasText: 'allow_private' }).waitFor();
      await fill(dialog, 'URL', 'http://localhost:9/x');
      await dialog.getByRole('button', { name: 'Salvar' }).click();
      await dialog.locator('#webhooks-url-error').filter({ hasText: 'localhost resolves to' }).waitFor();
      // A name that does not resolve today is accepted: every attempt checks it again.
      await fill(dialog, 'URL', 'http://receiver.invalid/x');
      await dialog.getByRole('button', { name: 'Salvar' }).click();
      const secret = await page.getByTestId('webhook-secret').textContent();
      assert.ok(secret && secret.length >= 16, 'a generated secret is shown once');
      await page.screenshot({ path: path.join(shots, 'webhook-secret.png') });
      await page.getByRole('button', { name: 'Concluído' }).click();
      const subscription = page.getByRole('region', { name: 'Assinaturas' }).getByRole('row', { name: /Integrador/ });
      assert.match(await subscription.textContent(), /http:\/\/receiver\.invalid\/x.*PERSON_CREATED.*Sim.*Sim/);
      assert.doesNotMatch(await page.locator('main').textContent(), new RegExp(escape(secret)), 'the secret is not shown again');
      // A new secret, generated by the console, is shown once too.
      await page.getByRole('button', { name: 'Nova chave Integrador' }).click();
      const renewed = await page.getByTestId('webhook-secret').textContent();
      assert.ok(renewed && renewed.length >= 16 && renewed !== secret, 'a new secret replaces the first');
      await page.getByRole('button', { name: 'Concluído' }).click();
      // The body a receiver gets for each type.
      const personType = page.getByRole('region', { name: 'Tipos de evento' }).getByRole('row', { name: /PERSON_CREATED/ });
      await personType.getByText('Ver').click();
      await personType.getByText(/"full_name"/).waitFor();

      await page.getByRole('button', { name: 'Entregas de Integrador' }).click();
      const log = page.getByRole('region', { name: 'Entregas de Integrador' });
      await log.getByText('Nenhuma entrega ainda.').waitFor();
      await log.getByRole('button', { name: 'Enviar evento de teste' }).click();
      await log.getByRole('status').filter({ hasText: 'Na fila' }).waitFor();
      // Behind the console: an event of the chosen type is queued for it too.
      await callApi('POST', '/people', { full_name: 'Bruno Lima' });
      // The name does not resolve: the test event is tried once and fails (a test never holds
      // the queue), then the subscription's event is tried and waits for its retry.
      const test = log.getByRole('row', { name: /WEBHOOK_TEST/ });
      const person = log.getByRole('row', { name: /PERSON_CREATED/ });
      const shown = async () => (await person.count()) === 1 && /Falhou/.test(await test.textContent()) && /Pendente1/.test(await person.textContent());
      for (let i = 0; i < 60 && !(await shown()); i++) {
        await page.waitForTimeout(250);
        await log.getByRole('button', { name: 'Atualizar' }).click();
      }
      assert.match(await test.textContent(), /Falhou1.*receiver\.invalid/);
      assert.match(await person.textContent(), /PERSON_CREATED.*Pendente1/);
      await test.getByRole('button', { name: /^Reenviar WEBHOOK_TEST/ }).click();
      await log.getByRole('row', { name: /WEBHOOK_TEST/ }).nth(1).waitFor();
      await log.getByLabel('Situação').selectOption({ label: 'Entregue' });
      await log.getByText('Nenhuma entrega ainda.').waitFor();
      await log.getByLabel('Situação').selectOption({ label: 'Pendente' });
      await log.getByRole('row', { name: /PERSON_CREATED/ }).waitFor();
      await page.screenshot({ path: path.join(shots, 'webhooks.png'), fullPage: true });
    });

    await step('a zone drawn on the plan, a ZONE_ENTER rule, and its alert arriving live', async () => {
      // Behind the console: the tag starts by gateway A, left of the zone to come.
      const planId = (await callApi('GET', '/positions/current'))[0].floor_plan_id;
      for (let i = 0; i < 40; i++) {
        await appliance.publish(GATEWAY_A, [{ tag_mac: TAG, rssi: -45 }]);
        await appliance.publish(GATEWAY_B, [{ tag_mac: TAG, rssi: -85 }]);
        await page.waitForTimeout(250);
        const [here] = await callApi('GET', '/positions/current');
        if (here.x < 0.45) break;
      }

      const menu = page.getByRole('navigation');
      await menu.getByRole('link', { name: 'Alertas' }).click();
      const zones = page.getByRole('region', { name: 'Zonas', exact: true });
      const editor = zones.getByTestId('zone-editor');
      await zones.locator('img').waitFor();
      await zones.getByRole('button', { name: 'Nova zona' }).click();
      await zones.getByLabel('Nome', { exact: true }).fill('Sala B');
      await editor.scrollIntoViewIfNeeded();
      let box = await editor.boundingBox();
      const at = (fx, fy) => [box.x + box.width * fx, box.y + box.height * fy];
      // The right half of the plan, around gateway B.
      for (const [fx, fy] of [[0.6, 0.1], [0.97, 0.1], [0.97, 0.9], [0.6, 0.9]]) await page.mouse.click(...at(fx, fy));
      await zones.getByRole('status').filter({ hasText: '(4 ' }).waitFor();
      await zones.getByRole('button', { name: 'Concluir zona' }).click();
      await zones.getByRole('button', { name: 'Sala B', exact: true }).waitFor();
      let [zone] = await callApi('GET', `/zones?floor_plan_id=${planId}`);
      assert.equal(zone.name, 'Sala B');
      assert.equal(zone.points.length, 4);
      assert.ok(Math.abs(zone.points[0].x - 0.6) < 0.02 && Math.abs(zone.points[2].y - 0.9) < 0.02, JSON.stringify(zone.points));

      // A corner dragged a little to the left: the drop saves the polygon.
      const corner = editor.locator('[data-corner="0"]');
      await editor.scrollIntoViewIfNeeded();
      box = await editor.boundingBox();
      const from = await corner.boundingBox();
      await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
      await page.mouse.down();
      await page.mouse.move(...at(0.55, 0.1), { steps: 5 });
      await page.mouse.up();
      for (let i = 0; i < 20 && Math.abs(zone.points[0].x - 0.55) > 0.02; i++) {
        await page.waitForTimeout(200);
        [zone] = await callApi('GET', `/zones?floor_plan_id=${planId}`);
      }
      assert.ok(Math.abs(zone.points[0].x - 0.55) < 0.02, `the corner moved (${JSON.stringify(zone.points[0])})`);
      await page.screenshot({ path: path.join(shots, 'zone-editor.png'), fullPage: true });

      await createWith('Nova regra', { Nome: 'Entrada na Sala B' }, async (dialog) => {
        await dialog.getByLabel(/^Tipo( \*)?$/).selectOption('ZONE_ENTER');
        await dialog.getByLabel('Zona', { exact: true }).selectOption({ label: 'Sala B (Térreo – planta)' });
        await dialog.getByLabel('Pessoa', { exact: true }).selectOption({ label: 'Ana Souza' });
      });
      await page.getByRole('cell', { name: 'Entrada na Sala B', exact: true }).waitFor();

      const events = page.getByRole('region', { name: 'Alertas', exact: true });
      await events.getByRole('status').filter({ hasText: 'Ao vivo' }).waitFor();
      const alert = events.locator('tr[data-alert-id]', { hasText: 'ZONE_ENTER' });
      // The tag walks over to gateway B, into the zone; the alert comes with the stream.
      for (let i = 0; i < 40 && (await alert.count()) === 0; i++) {
        await appliance.publish(GATEWAY_B, [{ tag_mac: TAG, rssi: -45 }]);
        await appliance.publish(GATEWAY_A, [{ tag_mac: TAG, rssi: -85 }]);
        await page.waitForTimeout(300);
      }
      await alert.waitFor();
      assert.match(await alert.textContent(), /Ana Souza.*Sala B.*Aberto/);
      await page.screenshot({ path: path.join(shots, 'alerts.png'), fullPage: true });

      // On the live map: the person's marker highlighted and the zone outlined.
      await page.getByRole('link', { name: 'Mapa ao vivo' }).click();
      await page.locator('.tag-marker.alerting').waitFor();
      await page.locator(`polygon.alert-zone[data-zone-id="${zone.id}"]`).waitFor();
      await page.getByRole('status').filter({ hasText: 'alerta(s) em aberto' }).waitFor();
      await page.screenshot({ path: path.join(shots, 'live-map-alert.png') });

      // Acknowledged with a note, it leaves the "open" list and shows under its new state.
      await menu.getByRole('link', { name: 'Alertas' }).click();
      const id = await alert.getAttribute('data-alert-id');
      await events.getByRole('button', { name: `Reconhecer #${id}` }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('Observação').fill('Vigilante a caminho');
      await dialog.getByRole('button', { name: 'Reconhecer' }).click();
      await events.locator(`tr[data-alert-id="${id}"]`).waitFor({ state: 'detached' });
      await events.getByLabel('Situação').selectOption({ label: 'Reconhecido' });
      const acknowledged = events.locator(`tr[data-alert-id="${id}"]`);
      await acknowledged.waitFor();
      assert.match(await acknowledged.textContent(), /Reconhecido.*Vigilante a caminho/);
    });

    await step('an incident opened from a camera event, a message with an image in its timeline', async () => {
      await page.getByRole('link', { name: 'Dispositivos' }).click();
      await page.getByRole('link', { name: 'Eventos de Entrada' }).click();
      const cameraEvents = page.getByRole('region', { name: 'Eventos' });
      const intrusion = cameraEvents.getByRole('row', { name: /intrusion/ });
      await intrusion.getByRole('button', { name: /^Abrir incidente/ }).click();
      await page.waitForURL(/\/incidents\/\d+$/);
      const incidentId = Number(page.url().split('/').pop());
      const detail = page.getByRole('region', { name: new RegExp(`^#${incidentId} `) });
      await detail.getByTestId('incident-status').filter({ hasText: 'Aberto' }).waitFor();
      const timeline = detail.getByRole('list', { name: 'Linha do tempo' });
      // The appliance's own opening message.
      await timeline.locator('.message-system').first().waitFor();

      await detail.getByLabel('Nova mensagem').fill('Equipe a caminho da entrada');
      await detail.getByRole('button', { name: 'Enviar' }).click();
      await timeline.locator('li.message', { hasText: 'Equipe a caminho da entrada' }).waitFor();

      await detail.getByLabel(/^Anexar arquivo/).setInputFiles({ name: 'porta.png', mimeType: 'image/png', buffer: planPng(64, 48) });
      await detail.getByLabel('Descrição do anexo').fill('Porta forçada');
      await detail.getByRole('button', { name: 'Anexar', exact: true }).click();
      const image = timeline.locator('li.message', { hasText: 'Porta forçada' }).locator('img.attachment-preview');
      await image.waitFor();
      // The preview really loads (the media is served), at the image's own size.
      await page.waitForFunction((img) => img.complete && img.naturalWidth === 64, await image.elementHandle());

      // Someone else writes: the message arrives with the stream, without a reload.
      await callApi('POST', `/incidents/${incidentId}/messages`, { content: 'Recebido pela central' });
      await timeline.locator('li.message', { hasText: 'Recebido pela central' }).waitFor();

      // A status change is a SYSTEM message in the timeline.
      await detail.getByLabel('Novo status').selectOption({ label: 'Em andamento' });
      await detail.getByRole('button', { name: 'Alterar status' }).click();
      await detail.getByTestId('incident-status').filter({ hasText: 'Em andamento' }).waitFor();
      await timeline.locator('.message-system', { hasText: 'IN_PROGRESS' }).waitFor();
      await page.screenshot({ path: path.join(shots, 'incident.png'), fullPage: true });

      // In the queue with its SLA counting down, and on the home page among my open incidents.
      const queue = page.getByRole('region', { name: 'Fila de incidentes' });
      await queue.getByLabel('Mostrar').selectOption('all');
      const row = queue.locator(`tr[data-incident-id="${incidentId}"]`);
      await row.waitFor();
      assert.match(await row.textContent(), /vence em|atrasado/);
      await page.getByRole('link', { name: 'Mapa ao vivo' }).click();
      await page.getByRole('region', { name: 'Meus incidentes abertos' }).locator(`tr[data-incident-id="${incidentId}"]`).waitFor();
      await page.screenshot({ path: path.join(shots, 'home.png'), fullPage: true });
    });

    await step('reports: the overview and the person report show the walk, as CSV and in print', async () => {
      // Ana Souza's tag walked between the two gateways above: presence sessions in the last 24 h.
      await page.getByRole('navigation', { name: 'Menu principal' }).getByRole('link', { name: 'Relatórios' }).click();
      await page.waitForURL('**/reports');
      await page.getByRole('button', { name: 'Últimas 24 h' }).click();
      await page.waitForURL(/range=24h/);
      const overview = page.getByRole('region', { name: 'Visão geral do local' });
      await overview.getByRole('region', { name: 'Pessoas com mais permanência' }).getByRole('row', { name: /Ana Souza/ }).waitFor();
      const sessions = Number((await overview.locator('dd').first().textContent()).replace(/\D/g, ''));
      assert.ok(sessions > 0, `the overview counts sessions (${sessions})`);
      await overview.getByRole('region', { name: 'Gateways com mais permanência' }).getByRole('row', { name: /Gateway AC:23:3F:00:00:(A1|B2)/ }).first().waitFor();
      await page.screenshot({ path: path.join(shots, 'reports-overview.png'), fullPage: true });

      await page.getByRole('navigation', { name: 'Relatórios disponíveis' }).getByRole('link', { name: 'Pessoa', exact: true }).click();
      await page.waitForURL(/\/reports\/person\?/);
      await page.getByLabel('Pessoa', { exact: true }).selectOption({ label: 'Ana Souza' });
      const summary = page.getByRole('region', { name: 'Resumo da pessoa' });
      await summary.getByRole('row', { name: /Gateway AC:23:3F:00:00:(A1|B2)/ }).first().waitFor();
      // The hour-of-day chart has a bar, and says so to a screen reader.
      const hours = page.getByRole('region', { name: 'Permanência por hora do dia' });
      const chart = hours.getByRole('img');
      await chart.waitFor();
      assert.match(await chart.getAttribute('aria-label'), /^Permanência por hora do dia: 24 intervalos; o maior, .+, em \d\dh\.$/);
      assert.ok((await hours.locator('svg rect').count()) > 0, 'at least one bar drawn');
      await hours.getByRole('button', { name: 'Mostrar dados' }).click();
      await hours.getByRole('row', { name: /^00h/ }).waitFor();
      await page.getByRole('region', { name: 'Linha do tempo' }).getByRole('row', { name: /Gateway AC:23:3F/ }).first().waitFor();

      // The CSV comes with the token, saved under the appliance's file name.
      const [download] = await Promise.all([page.waitForEvent('download'), summary.getByRole('button', { name: 'Baixar CSV: Resumo da pessoa' }).click()]);
      assert.match(download.suggestedFilename(), /\.csv$/);
      const csv = readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/);
      assert.match(download.suggestedFilename(), /^person-summary-/);
      assert.ok(csv.length >= 2, `a header and at least one row: ${csv.join(' | ')}`);
      assert.match(csv[0], /device_name/);
      assert.match(csv.slice(1).join('\n'), /Gateway AC:23:3F:00:00:(A1|B2)/);

      // Printed: no menu, no buttons, the window written out and the chart's numbers shown.
      await page.emulateMedia({ media: 'print' });
      assert.equal(await page.locator('nav.sidebar').isVisible(), false);
      assert.equal(await summary.getByRole('button', { name: /Baixar CSV/ }).isVisible(), false);
      await page.getByText(/^Período: /).waitFor();
      assert.ok(await page.locator('.chart-data').first().isVisible(), 'chart data tables print');
      await page.screenshot({ path: path.join(shots, 'reports-person-print.png'), fullPage: true });
      await page.emulateMedia({ media: 'screen' });
    });

    await step('calibration: three standing points, the fit recovers the gateways’ model, applied', calibrate);

    await step('the demo site after a few simulated minutes: a heat map and a replay of the walk', async () => {
      // Behind the console: the demo site, then its 12 people walking (they keep walking
      // while the console looks, so that the live map has them too when it comes back).
      await appliance.command(['seed', '--demo']);
      const simulator = appliance.background(['simulate', '--mqtt', `127.0.0.1:${appliance.mqttPort}`, '--duration', '900']);
      try {
        await demoWalk();
      } finally {
        await simulator.stop();
      }
    });
  } catch (error) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    console.error(appliance.log().slice(-4000));
    throw error;
  }
});
