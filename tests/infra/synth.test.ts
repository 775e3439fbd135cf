/**
 * What a user sees from a synth: one line, not a stack trace, when the host cannot build the
 * driver or a setting is wrong; a short summary from `npm run synth`, not the template.
 * Missing compilers are simulated by injecting the PATH lookup, never by uninstalling them.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { userFacingError } from '../../infra/app';
import { DriverLayer } from '../../infra/constructs/driver-layer';
import { assertBuildTools, DriverBuildError, ensureDriverLayer, missingBuildTools, onPath, REPO_ROOT } from '../../infra/native/driver';
import { readSettings, SettingsError } from '../../infra/settings';
import { SecureUploadStack } from '../../infra/stack';
import { formatSummary, outputDir, summarize } from '../../infra/synth';

const without =
  (...absent: string[]) =>
  (command: string): boolean =>
    !absent.includes(command);

describe('the local driver build checks its tools first', () => {
  it('names what is missing and the package that brings it, in one line', () => {
    expect(missingBuildTools(without(), {})).toEqual([]);
    expect(missingBuildTools(without('make', 'g++'), {})).toEqual(['make', 'g++']);
    const error = (() => {
      try {
        assertBuildTools(without('make', 'g++', 'python3', 'python'), {});
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DriverBuildError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain('make, g++, python3 not found');
    expect(message).toContain('apt-get install -y build-essential python3');
    expect(message).toContain('-c driverBuild=docker');
  });

  it('follows node-gyp: $CXX instead of g++, $PYTHON or python instead of python3', () => {
    expect(missingBuildTools(without('g++'), { CXX: 'clang++' })).toEqual([]);
    expect(missingBuildTools(without('clang++'), { CXX: 'clang++ -std=c++20' })).toEqual(['g++']);
    expect(missingBuildTools(without('python3'), {})).toEqual([]); // `python` is there
    expect(missingBuildTools(without('python3', 'python'), { PYTHON: '/opt/py/bin/python3.12' })).toEqual([]);
    expect(missingBuildTools(without('python3', 'python'), {})).toEqual(['python3']);
  });

  it('looks commands up on PATH like a shell', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-path-'));
    try {
      fs.writeFileSync(path.join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
      fs.writeFileSync(path.join(dir, 'plain'), 'not executable', { mode: 0o644 });
      fs.mkdirSync(path.join(dir, 'folder'));
      expect(onPath('tool', { PATH: `/nonexistent${path.delimiter}${dir}` })).toBe(true);
      expect(onPath('plain', { PATH: dir })).toBe(false);
      expect(onPath('folder', { PATH: dir })).toBe(false);
      expect(onPath('tool', { PATH: '' })).toBe(false);
      expect(onPath(path.join(dir, 'tool'), { PATH: '' })).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses before fetching or compiling anything', () => {
    expect(() => ensureDriverLayer({ force: true, commandExists: without('make'), log: () => undefined })).toThrow(DriverBuildError);
  });

  it('fails when the stack is built, only if it would compile, and not when bundling is skipped', () => {
    // No arm64 layer is ever cached here, so a local arm64 build would have to compile.
    const layer = (context: Record<string, unknown>, commandExists: (command: string) => boolean) => () =>
      new DriverLayer(new Stack(new App({ context }), 'Driver'), 'Layer', { architecture: Architecture.ARM_64, build: 'local', commandExists });
    expect(layer({}, without('g++'))).toThrow(/g\+\+ not found.*build-essential.*driverBuild=docker/);
    expect(layer({ 'aws:cdk:bundling-stacks': [] }, without('g++'))).not.toThrow();
    // With every tool there, the tool check passes and the build itself says why it cannot run here.
    expect(layer({}, without())).toThrow(/asked for linux-arm64 on linux-x64.*driverBuild=docker/);
    expect(layer({}, without())).not.toThrow(/not found/);
  });
});

describe('the CDK app', () => {
  it('prints user mistakes as one line and keeps stack traces for bugs', () => {
    expect(userFacingError(new SettingsError('context stage must be lowercase'))).toBe('error: context stage must be lowercase');
    expect(userFacingError(new DriverBuildError('make not found'))).toBe('error: make not found');
    const wrapped = new Error('Failed to bundle asset S/Layer/Code/Stage, bundle output is located at /tmp/x: DriverBuildError: g++ not found\n    at ...');
    expect(userFacingError(wrapped)).toBe('error: g++ not found');
    expect(userFacingError(new TypeError('x is undefined'))).toBeUndefined();
  });

  it('exits 1 with that line alone on stderr', () => {
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'infra/app.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ stage: 'Not A Stage' }), CDK_OUTDIR: fs.mkdtempSync(path.join(os.tmpdir(), 'sua-app-')) },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: context stage must be lowercase/)]);
  }, 60_000);
});

describe('npm run synth', () => {
  it('summarizes each stack instead of printing its template', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-synth-'));
    try {
      const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
      new SecureUploadStack(app, 'Summary', { settings: readSettings((key) => app.node.tryGetContext(key)) });
      app.synth();
      const [summary, ...others] = summarize(outdir);
      expect(others).toEqual([]);
      const template = JSON.parse(fs.readFileSync(path.join(outdir, 'Summary.template.json'), 'utf8')) as { Resources: Record<string, { Type: string }> };
      const types = Object.values(template.Resources).map((resource) => resource.Type);
      expect(summary).toMatchObject({
        name: 'Summary',
        resources: types.length,
        functions: types.filter((type) => type === 'AWS::Lambda::Function').length,
        routes: types.filter((type) => type === 'AWS::ApiGatewayV2::Route').length,
        templateFile: path.join(outdir, 'Summary.template.json'),
      });
      expect(summary?.routes).toBeGreaterThan(10);
      expect(summary?.assets).toBeGreaterThan(0); // the layer and the bundles, not the template
      const lines = formatSummary(summarize(outdir), outdir);
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^Summary: \d+ resources, \d+ Lambda functions, \d+ API routes, \d+ alarms$/);
      expect(lines[2]).toContain('Summary.template.json');
      expect(lines[2]).toContain('npx cdk synth Summary');
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('finds the output folder the way cdk does', () => {
    expect(outputDir([])).toBe(path.join(REPO_ROOT, 'cdk.out'));
    expect(outputDir(['-c', 'stage=dev', '-o', '/tmp/elsewhere'])).toBe('/tmp/elsewhere');
    expect(outputDir(['--output=/tmp/other'])).toBe('/tmp/other');
  });

  it('is wired to the summary script, and `npx cdk synth` keeps printing templates', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(manifest.scripts.synth).toBe('tsx infra/synth.ts');
    const cdkJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { app: string };
    expect(cdkJson.app).toBe('npx tsx infra/app.ts');
  });
});
