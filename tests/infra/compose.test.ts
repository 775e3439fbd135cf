/**
 * docker-compose.yml cannot run here (no Docker engine), so it is checked as data: services,
 * profiles, ports, volumes, start order, and the API's environment against lib/config.ts's
 * schema, with `${VAR:-default}` resolved the way Compose does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../lib/config';

interface Service {
  image?: string;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: string[];
  expose?: string[];
  profiles?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  working_dir?: string;
}

const compose = parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const { services } = compose;

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR-default}`, from `shell` (the host's environment and .env). */
function interpolate(value: string, shell: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?:(:?-)([^}]*))?\}/g, (_match, name: string, operator: string | undefined, fallback: string | undefined) => {
    const set = shell[name];
    if (operator === ':-') return set ? set : (fallback ?? '');
    if (operator === '-') return set ?? fallback ?? '';
    return set ?? '';
  });
}

function environment(service: Service | undefined, shell: Record<string, string> = {}): Record<string, string> {
  const env = service?.environment ?? {};
  const pairs: [string, string][] = Array.isArray(env)
    ? env.map((line) => [line.split('=')[0] ?? '', line.split('=').slice(1).join('=')])
    : Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]);
  return Object.fromEntries(pairs.map(([key, value]) => [key, interpolate(value, shell)]));
}

const api = services.api;
/** What a plain `docker compose up` gives the API (nothing set in the shell). */
const apiEnv = environment(api);
/** Services that `docker compose up` starts without `--profile`. */
const defaultServices = Object.keys(services).filter((name) => !services[name]?.profiles?.length);

describe('docker-compose.yml', () => {
  it('has MinIO, a one-shot bucket job, Mailpit and the API by default, and ClamAV only in the scan profile', () => {
    expect(defaultServices.sort()).toEqual(['api', 'create-bucket', 'mailpit', 'minio']);
    expect(Object.keys(services).sort()).toEqual(['api', 'clamav', 'create-bucket', 'mailpit', 'minio']);
    expect(services.clamav?.profiles).toEqual(['scan']);
    expect(services.mailpit?.image).toMatch(/^axllent\/mailpit:v\d/);
    expect(services.minio?.image).toMatch(/^minio\/minio:/);
    expect(services['create-bucket']?.image).toMatch(/^minio\/mc:/);
    expect(api?.image).toMatch(/^node:22\b/);
  });

  it('publishes the MinIO API on 9000, its console on 9001 and the API on 8000', () => {
    expect(services.minio?.ports).toEqual(expect.arrayContaining(['9000:9000', '9001:9001']));
    expect([services.minio?.command].flat().join(' ')).toMatch(/--console-address :9001/);
    expect(api?.ports).toEqual(['8000:8000']);
  });

  it('uses the documented MinIO development credentials everywhere', () => {
    const minio = environment(services.minio);
    expect(minio).toEqual({ MINIO_ROOT_USER: 'miniouser', MINIO_ROOT_PASSWORD: 'miniopassword123' });
    expect(apiEnv.S3_ACCESS_KEY_ID).toBe(minio.MINIO_ROOT_USER);
    expect(apiEnv.S3_SECRET_ACCESS_KEY).toBe(minio.MINIO_ROOT_PASSWORD);
    expect([services['create-bucket']?.command].flat().join(' ')).toContain('local http://minio:9000 miniouser miniopassword123');
  });

  it('creates the API bucket before the API starts', () => {
    const job = [services['create-bucket']?.command].flat().join(' ');
    expect(job).toContain(`mb --ignore-existing local/${apiEnv.S3_BUCKET}`);
    expect(services['create-bucket']?.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    expect(api?.depends_on).toEqual({
      'create-bucket': { condition: 'service_completed_successfully' },
      mailpit: { condition: 'service_healthy' },
    });
  });

  it('keeps data and the container node_modules on named volumes', () => {
    expect(api?.volumes).toEqual(expect.arrayContaining(['.:/app', 'api-node-modules:/app/node_modules', 'api-data:/data']));
    expect(services.minio?.volumes).toEqual(['minio-data:/data']);
    expect(services.clamav?.volumes).toEqual(['clamav-db:/var/lib/clamav']);
    for (const volume of [...(api?.volumes ?? []), ...(services.minio?.volumes ?? []), ...(services.clamav?.volumes ?? [])]) {
      const source = volume.split(':')[0] ?? '';
      if (!source.startsWith('.')) expect(Object.keys(compose.volumes)).toContain(source);
    }
    expect(apiEnv.DATA_DIR).toBe('/data');
  });

  it('runs the local runtime after installing its own dependencies, and checks /health', () => {
    expect([api?.command].flat().join(' ')).toMatch(/npm ci.*&& npm start/);
    expect(api?.working_dir).toBe('/app');
    expect(api?.healthcheck?.test.join(' ')).toContain(`:${apiEnv.PORT}/health`);
  });

  it('points the API at MinIO inside the network and presigns for the host', () => {
    expect(apiEnv).toMatchObject({
      HOST: '0.0.0.0',
      PORT: '8000',
      S3_ENDPOINT: 'http://minio:9000',
      S3_PUBLIC_ENDPOINT: 'http://localhost:9000',
    });
  });

  it('runs a pinned ClamAV whose clamd is reachable inside the network only, with a health check', () => {
    const clamav = services.clamav;
    expect(clamav?.image).toMatch(/^clamav\/clamav:\d+\.\d+\.\d+$/);
    expect(clamav?.expose).toEqual(['3310']);
    expect(clamav?.ports).toBeUndefined();
    expect(clamav?.healthcheck?.test.join(' ')).toMatch(/clamdcheck/);
    // A depends_on on a profile service would break a plain `docker compose up` (Compose < 2.20).
    expect(Object.keys(api?.depends_on ?? {})).not.toContain('clamav');
  });

  it('leaves scanning off by default and points SCANNER=clamd at the clamav service', () => {
    const off = loadConfig({ ...apiEnv, JWT_SECRET: 'x'.repeat(32) });
    expect(off.scanner.backend).toBe('none');
    const on = loadConfig({ ...environment(api, { SCANNER: 'clamd' }), JWT_SECRET: 'x'.repeat(32) });
    expect(on.scanner).toMatchObject({ backend: 'clamd', clamd: { host: 'clamav', port: 3310 } });
    expect(services.clamav?.expose).toContain(String(on.scanner.clamd.port));
  });

  it("sends mail over SMTP to Mailpit, whose inbox is published on 8025, with links to the host's API", () => {
    expect(apiEnv).toMatchObject({ MAIL_TRANSPORT: 'smtp', SMTP_URL: 'smtp://mailpit:1025', APP_URL: 'http://localhost:8000' });
    expect(services.mailpit?.ports).toEqual(['8025:8025']);
    expect(loadConfig({ ...apiEnv, JWT_SECRET: 'x'.repeat(32) })).toMatchObject({ mail: { transport: 'smtp' }, appUrl: 'http://localhost:8000' });
  });

  it('sets only variables lib/config.ts reads, with values it accepts', () => {
    for (const name of Object.keys(apiEnv)) expect({ name, known: CONFIG_VARIABLES.includes(name) }).toEqual({ name, known: true });
    // The runtime generates JWT_SECRET into DATA_DIR when it is unset; stand one in for the check.
    const config = loadConfig({ ...apiEnv, JWT_SECRET: 'x'.repeat(32) });
    expect(config.s3).toMatchObject({
      bucket: 'uploads',
      endpoint: 'http://minio:9000',
      publicEndpoint: 'http://localhost:9000',
      accessKeyId: 'miniouser',
    });
    expect(config.local).toMatchObject({ host: '0.0.0.0', port: 8000, dataDir: '/data' });
    expect(config.production).toBe(false);
  });
});
