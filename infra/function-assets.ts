/**
 * What `cdk deploy` uploads for each function: the stack synthesized with bundling on into a
 * cloud assembly, and per function its asset folder, layers and environment from the
 * template. Used by the bundle benchmark and the bundle test, which run those folders as
 * Lambda would.
 */
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { handlerNames } from '../functions/routes';
import { readSettings } from './settings';
import { functionId, SecureUploadStack } from './stack';

export interface FunctionAsset {
  /** Handler file name in `functions/` (`sweep-uploads` for the scheduled sweep). */
  readonly handler: string;
  /** The asset folder: `index.js`, `index.js.map`, and for docs `swagger-ui/`. */
  readonly dir: string;
  /** The function has the SQLite driver layer. */
  readonly hasDriverLayer: boolean;
  /** Environment variables as the template sets them; CloudFormation tokens stay objects. */
  readonly environment: Readonly<Record<string, unknown>>;
  readonly tracingActive: boolean;
  /** MB, as the template sets it (Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE). */
  readonly memorySize: number;
  /** Seconds, as the template sets it (what `context.getRemainingTimeInMillis()` counts down from). */
  readonly timeoutSeconds: number;
}

export interface SynthesizedAssets {
  readonly outdir: string;
  readonly functions: readonly FunctionAsset[];
  /** The driver layer's asset folder (`nodejs/node_modules/better-sqlite3`...); none with `database=aurora`. */
  readonly driverLayerDir: string | undefined;
}

interface TemplateResource {
  readonly Type: string;
  readonly Metadata?: Record<string, unknown>;
  readonly Properties?: Record<string, unknown>;
}

/** Synthesizes the stack into `outdir` (bundling every function) and lists the assets. */
export function synthesizeAssets(outdir: string, context: Record<string, unknown> = {}): SynthesizedAssets {
  const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true, ...context } });
  const stack = new SecureUploadStack(app, 'Bundled', { settings: readSettings((key) => app.node.tryGetContext(key)) });
  const template = app.synth().getStackByName(stack.stackName).template as { Resources: Record<string, TemplateResource> };
  const resources = Object.entries(template.Resources);
  const assetDir = (resource: TemplateResource | undefined, what: string): string => {
    const assetPath = resource?.Metadata?.['aws:asset:path'];
    if (typeof assetPath !== 'string') throw new Error(`no asset for ${what}`);
    return path.join(outdir, assetPath);
  };
  const layer = resources.find(([id, resource]) => id.startsWith('SqliteDriver') && resource.Type === 'AWS::Lambda::LayerVersion');
  const functions = [...handlerNames(), 'sweep-uploads'].map((handler): FunctionAsset => {
    const prefix = functionId(handler);
    const found = resources.find(([id, resource]) => resource.Type === 'AWS::Lambda::Function' && id.startsWith(prefix) && !id.startsWith(`${prefix}Logs`));
    const props = found?.[1].Properties ?? {};
    return {
      handler,
      dir: assetDir(found?.[1], handler),
      hasDriverLayer: JSON.stringify(props.Layers ?? []).includes('SqliteDriver'),
      environment: (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {},
      tracingActive: (props.TracingConfig as { Mode?: string } | undefined)?.Mode === 'Active',
      // CloudFormation's defaults when the template leaves them out.
      memorySize: typeof props.MemorySize === 'number' ? props.MemorySize : 128,
      timeoutSeconds: typeof props.Timeout === 'number' ? props.Timeout : 3,
    };
  });
  return { outdir, functions, driverLayerDir: layer ? assetDir(layer[1], 'the driver layer') : undefined };
}
