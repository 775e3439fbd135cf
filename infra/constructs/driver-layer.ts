import fs from 'node:fs';
import path from 'node:path';
import { AssetHashType, Stack, type ILocalBundling } from 'aws-cdk-lib';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { assertBuildTools, driverLayerCached, driverVersion, ensureDriverLayer, layerKey, NODE22_ABI, type CommandLookup, type DriverArch } from '../native/driver';
import type { DriverBuild } from '../settings';

export interface DriverLayerProps {
  readonly architecture: Architecture;
  /**
   * `local`: compile here with node-gyp and Node 22 headers (no Docker); `docker`: in the
   * Lambda build image; `auto`: local on a Linux x86_64 host, Docker elsewhere.
   */
  readonly build: DriverBuild;
  /** PATH lookup for the local build's tools; tests inject one. */
  readonly commandExists?: CommandLookup;
}

/** Whether this machine can compile a driver for Lambda `arch` itself (a Linux host of that CPU). */
export function canBuildLocally(arch: DriverArch): boolean {
  return process.platform === 'linux' && process.arch === arch;
}

/**
 * Compiles on this machine. Returning false hands the asset to Docker: what `driverBuild=docker`
 * asks for, and what `auto` does on a host that cannot compile for Lambda (macOS, Windows, arm64).
 */
class LocalDriverBuild implements ILocalBundling {
  constructor(
    private readonly arch: DriverArch,
    private readonly build: DriverBuild,
  ) {}

  tryBundle(outputDir: string): boolean {
    if (this.build === 'docker' || (this.build === 'auto' && !canBuildLocally(this.arch))) return false;
    const layer = ensureDriverLayer({ arch: this.arch });
    fs.cpSync(layer.layerDir, outputDir, { recursive: true });
    return true;
  }
}

/**
 * The script Docker runs in AWS's own Lambda build image (Amazon Linux 2023, Node 22, gcc):
 * compiled where it will run, then loaded once with that image's Node 22 before it is accepted.
 */
export function dockerScript(version: string): string {
  const modules = '/asset-output/nodejs/node_modules';
  return [
    'set -euo pipefail',
    'mkdir -p /tmp/driver && cd /tmp/driver',
    'npm init -y >/dev/null',
    `npm install --no-audit --no-fund --omit=dev --build-from-source better-sqlite3@${version}`,
    `mkdir -p ${modules}/better-sqlite3/build/Release`,
    `cp -r node_modules/better-sqlite3/package.json node_modules/better-sqlite3/lib ${modules}/better-sqlite3/`,
    `cp node_modules/better-sqlite3/build/Release/better_sqlite3.node ${modules}/better-sqlite3/build/Release/`,
    `cp -r node_modules/bindings node_modules/file-uri-to-path ${modules}/`,
    `node -e "const D=require('${modules}/better-sqlite3'); const db=new D(':memory:'); if (db.prepare('select 1 as x').get().x !== 1) process.exit(1)"`,
  ].join(' && ');
}

/**
 * better-sqlite3 for Lambda as a layer, built once (its content is mounted at
 * /opt/nodejs/node_modules, which is on the nodejs runtimes' module path). The functions'
 * bundles keep `require('better-sqlite3')` external, so a deploy never compiles per function.
 *
 * The asset hash is the driver's identity (version, ABI, CPU, build path), not its bytes: a
 * compiler is not bit-for-bit reproducible, and a rebuild of the same driver must not force a
 * new layer version on every deploy.
 */
export class DriverLayer extends Construct {
  readonly layer: LayerVersion;

  constructor(scope: Construct, id: string, props: DriverLayerProps) {
    super(scope, id);
    const arch: DriverArch = props.architecture === Architecture.ARM_64 ? 'arm64' : 'x64';
    const version = driverVersion();
    // The asset hash names the build path actually taken: local and Docker builds differ in bytes.
    const buildPath = props.build === 'docker' || (props.build === 'auto' && !canBuildLocally(arch)) ? 'docker' : 'local';
    // Fail here, before synthesis starts bundling: an error thrown while bundling reaches the
    // user wrapped in CDK's "Failed to bundle asset" and a stack trace. Only when this synth
    // bundles the stack (not `cdk ls`, not tests that skip bundling) and would really compile.
    if (buildPath === 'local' && Stack.of(this).bundlingRequired && !driverLayerCached(arch)) assertBuildTools(props.commandExists);
    this.layer = new LayerVersion(this, 'Layer', {
      description: `better-sqlite3 ${version} for Node 22 (ABI ${NODE22_ABI}) linux-${arch}, ${buildPath} build`,
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [props.architecture],
      // The source folder only matters to Docker (mounted, unused); the output is what ships.
      code: Code.fromAsset(path.join(__dirname, '..', 'native'), {
        assetHashType: AssetHashType.CUSTOM,
        assetHash: `${layerKey(arch)}-${buildPath}`,
        bundling: {
          image: Runtime.NODEJS_22_X.bundlingImage, // public.ecr.aws/sam/build-nodejs22.x
          platform: props.architecture.dockerPlatform,
          environment: { HOME: '/tmp', npm_config_cache: '/tmp/.npm', npm_config_update_notifier: 'false' },
          command: ['bash', '-c', dockerScript(version)],
          local: new LocalDriverBuild(arch, props.build),
        },
      }),
    });
  }
}
