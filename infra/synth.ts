/**
 * `npm run synth [-- -c stage=dev ...]`: `cdk synth --quiet` with the same arguments, then a
 * few lines about what was synthesized instead of the whole template (thousands of lines of
 * YAML). `npx cdk synth` still prints the template for whoever wants it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AssetManifestArtifact, CloudAssembly } from 'aws-cdk-lib/cx-api';
import { REPO_ROOT } from './native/driver';

export interface StackSummary {
  readonly name: string;
  readonly resources: number;
  readonly functions: number;
  readonly routes: number;
  readonly alarms: number;
  /** File assets `cdk deploy` uploads (function bundles, the driver layer), not the template. */
  readonly assets: number;
  readonly assetBytes: number;
  readonly templateFile: string;
  readonly templateBytes: number;
}

function sizeOf(target: string): number {
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.size;
  return fs.readdirSync(target).reduce((total, entry) => total + sizeOf(path.join(target, entry)), 0);
}

/** What each stack of the cloud assembly in `outdir` holds. */
export function summarize(outdir: string): StackSummary[] {
  const assembly = new CloudAssembly(outdir);
  return assembly.stacks.map((stack) => {
    const resources = Object.values((stack.template as { Resources?: Record<string, { Type: string }> }).Resources ?? {});
    const count = (type: string) => resources.filter((resource) => resource.Type === type).length;
    const manifests = stack.dependencies.filter((artifact): artifact is AssetManifestArtifact => artifact instanceof AssetManifestArtifact);
    const files = manifests.flatMap((manifest) =>
      Object.values(manifest.contents.files ?? {})
        .map((asset) => asset.source.path)
        .filter((source): source is string => source !== undefined && source !== stack.templateFile)
        .map((source) => path.join(manifest.assembly.directory, source)),
    );
    return {
      name: stack.stackName,
      resources: resources.length,
      functions: count('AWS::Lambda::Function'),
      routes: count('AWS::ApiGatewayV2::Route'),
      alarms: count('AWS::CloudWatch::Alarm'),
      assets: files.length,
      assetBytes: files.reduce((total, file) => total + sizeOf(file), 0),
      templateFile: stack.templateFullPath,
      templateBytes: sizeOf(stack.templateFullPath),
    };
  });
}

const size = (bytes: number): string =>
  bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;

/** The lines `npm run synth` prints; paths relative to `cwd`. */
export function formatSummary(stacks: readonly StackSummary[], cwd: string = process.cwd()): string[] {
  return stacks.flatMap((stack) => [
    `${stack.name}: ${stack.resources} resources, ${stack.functions} Lambda functions, ${stack.routes} API routes, ${stack.alarms} alarms`,
    `  assets:   ${stack.assets} files to upload, ${size(stack.assetBytes)}`,
    `  template: ${path.relative(cwd, stack.templateFile)} (${size(stack.templateBytes)}); print it with: npx cdk synth ${stack.name}`,
  ]);
}

/** Where `cdk synth` writes: `-o`/`--output` if given, else cdk.json's `output`, else cdk.out. */
export function outputDir(args: readonly string[], root: string = REPO_ROOT): string {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if ((arg === '-o' || arg === '--output') && args[i + 1]) return path.resolve(args[i + 1] ?? '');
    const inline = /^(?:-o|--output)=(.+)$/.exec(arg);
    if (inline?.[1]) return path.resolve(inline[1]);
  }
  const config: unknown = JSON.parse(fs.readFileSync(path.join(root, 'cdk.json'), 'utf8'));
  const configured = config && typeof config === 'object' && 'output' in config && typeof config.output === 'string' ? config.output : 'cdk.out';
  return path.resolve(root, configured);
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const cdk = spawnSync(process.execPath, [require.resolve('aws-cdk/bin/cdk'), 'synth', '--quiet', ...args], { stdio: 'inherit', cwd: REPO_ROOT });
  if (cdk.status !== 0) {
    process.exitCode = cdk.status ?? 1;
  } else {
    process.stdout.write(`${formatSummary(summarize(outputDir(args))).join('\n')}\n`);
  }
}
