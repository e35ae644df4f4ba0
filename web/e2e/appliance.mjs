// Starting and stopping the real appliance binary for the browser test, in a fresh
// temporary directory with its own ports.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const webDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const run = promisify(execFile);

/** A port nobody listens on: bind port 0, note what the kernel gave, release it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function startAppliance() {
  const binary = path.resolve(webDir, process.env.SV_BIN ?? '../target/debug/securityvision');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-console-e2e-'));
  const dataDir = path.join(dir, 'data');
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const env = {
    ...process.env,
    SV_DATA_DIR: dataDir,
    SV_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
    SV_MQTT_LISTEN: `127.0.0.1:${mqttPort}`,
  };
  // Variables of this test, not of the appliance (which warns about unknown SV_* names).
  delete env.SV_BIN;
  delete env.SV_CONSOLE_DIR;
  delete env.SV_HTTP_CONSOLE_DIR;
  if (process.env.SV_CONSOLE_DIR) env.SV_HTTP_CONSOLE_DIR = path.resolve(process.env.SV_CONSOLE_DIR);
  const child = spawn(binary, ['serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));

  const baseUrl = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`appliance exited early (${child.exitCode}):\n${log}`);
    try {
      if ((await fetch(`${baseUrl}/api/v1/health`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`appliance not healthy within 30 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    baseUrl,
    mqttPort,
    adminEmail: 'admin@localhost',
    adminPassword: readFileSync(path.join(dataDir, 'initial-admin-password'), 'utf8').trim(),
    gatewayPassword: readFileSync(path.join(dataDir, 'initial-mqtt-gateway-password'), 'utf8').trim(),
    log: () => log,
    /** Runs another subcommand of the binary on this appliance's data (e.g. `seed --demo`). */
    async command(args) {
      return run(binary, args, { cwd: dir, env, maxBuffer: 16 * 1024 * 1024 });
    },
    /** Starts a subcommand in the background (e.g. `simulate`); `stop()` ends it and waits. */
    background(args) {
      const proc = spawn(binary, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout.on('data', (d) => (log += d));
      proc.stderr.on('data', (d) => (log += d));
      const done = new Promise((resolve) => proc.once('exit', resolve));
      return {
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          await done;
        },
      };
    },
    /** One gateway report, as a real gateway would publish it. */
    async publish(gatewayMac, readings) {
      await this.publishAs('gateway', this.gatewayPassword, `rtls/gateways/${gatewayMac}/status`, { readings });
    },
    /** One JSON message from any MQTT client (e.g. a camera collector's status). */
    async publishAs(username, password, topic, message) {
      await run('mosquitto_pub', [
        '-h', '127.0.0.1', '-p', String(mqttPort), '-u', username, '-P', password,
        '-q', '1', '-t', topic, '-m', JSON.stringify(message),
      ]);
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
