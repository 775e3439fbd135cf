/**
 * Runs synthesized function assets the way the Lambda Node.js 22 runtime does, without Docker:
 * each function in its own Node 22 process (a warm execution environment), started with the
 * environment Lambda gives it, and a fake Secrets Manager for the JWT secret.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FunctionAsset } from '../../infra/function-assets';

const HARNESS = path.join(__dirname, 'lambda-harness.cjs');

/** A runtime error as Lambda reports it (`errorType`, `errorMessage`, the stack lines). */
export interface LambdaError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly stack: readonly string[];
}

type HarnessMessage =
  | { type: 'ready' }
  | { type: 'init-error'; error: LambdaError }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; error: LambdaError };

export interface ContainerOptions {
  /** The Node 22 binary (Lambda's `nodejs22.x`). */
  readonly node: string;
  readonly asset: FunctionAsset;
  /** The driver layer's `nodejs/node_modules`, put on NODE_PATH only if the function has the layer. */
  readonly layerModules: string;
  /** The function's environment with every CloudFormation token already resolved. */
  readonly environment: Readonly<Record<string, string>>;
  readonly region: string;
  /** The execution role's session credentials, as Lambda puts them in the environment. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken: string };
  /** Longest an invocation may take before the test gives up (not Lambda's timeout: the machine is slow). */
  readonly invokeLimitMs?: number;
}

/** One function in its own Node 22 process, kept warm across invocations. */
export class LambdaContainer {
  readonly name: string;
  /** Resolves once the handler module loaded (Lambda's init phase); rejects with the init error. */
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  private logs = '';
  private exit: string | undefined;
  private readonly exited: Promise<void>;
  private readonly invokeLimitMs: number;

  constructor(options: ContainerOptions) {
    const { asset, node, region, credentials } = options;
    this.name = `secure-upload-${asset.handler}`;
    this.invokeLimitMs = options.invokeLimitMs ?? 120_000;
    // What Lambda sets for nodejs22.x (see "Defined runtime environment variables"), with
    // /var/task as the asset folder and /opt/nodejs/node_modules as the layer's folder. The
    // runtime's own /var/runtime/node_modules (its copy of the AWS SDK) is left out on
    // purpose: the bundles must carry their SDK, so nothing may come from there.
    const env: Record<string, string> = {
      PATH: `${path.dirname(node)}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      LAMBDA_TASK_ROOT: asset.dir,
      _HANDLER: 'index.handler',
      NODE_PATH: [...(asset.hasDriverLayer ? [options.layerModules] : []), asset.dir].join(':'),
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_LAMBDA_FUNCTION_NAME: this.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(asset.memorySize),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]${randomBytes(16).toString('hex')}`,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
      ...options.environment,
      HARNESS_TIMEOUT_SECONDS: String(asset.timeoutSeconds),
    };
    this.child = fork(HARNESS, [], {
      execPath: node,
      execArgv: [], // not the jest worker's flags
      cwd: asset.dir,
      env,
      serialization: 'json',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => this.record(chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => this.record(chunk));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = signal ?? String(code);
        for (const [id, call] of this.pending) {
          clearTimeout(call.timer);
          call.reject(new Error(`${this.name} exited (${this.exit}) during invocation ${id}:\n${this.output()}`));
        }
        this.pending.clear();
        resolve();
      });
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: HarnessMessage) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'init-error') reject(new Error(`${this.name} failed to initialize: ${message.error.errorType}: ${message.error.errorMessage}\n${this.output()}`));
      };
      this.child.on('message', onMessage);
      void this.exited.then(() => reject(new Error(`${this.name} exited (${this.exit}) before it was ready:\n${this.output()}`)));
    });
    this.ready.catch(() => undefined); // observed by whoever awaits it
    this.child.on('message', (message: HarnessMessage) => {
      if (message.type !== 'result' && message.type !== 'error') return;
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.type === 'result') call.resolve(message.result);
      else call.reject(Object.assign(new Error(`${this.name} failed: ${message.error.errorType}: ${message.error.errorMessage}\n${message.error.stack.join('\n')}`), { lambdaError: message.error }));
    });
  }

  /** The process is still up (a warm container), not exited or crashed. */
  get running(): boolean {
    return this.exit === undefined;
  }

  /** The function's stdout and stderr so far (its CloudWatch log), for failure messages. */
  output(): string {
    return this.logs;
  }

  /** Invokes the handler with `event` (waits for init); resolves with what the handler returned. */
  async invoke(event: unknown): Promise<unknown> {
    await this.ready;
    if (this.exit !== undefined) throw new Error(`${this.name} is not running (exited ${this.exit}):\n${this.output()}`);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} did not answer invocation ${id} within ${this.invokeLimitMs} ms:\n${this.output()}`));
      }, this.invokeLimitMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ type: 'invoke', id, event, requestId: randomUUID() });
    });
  }

  /** Shuts the container down: closing the channel ends it; SIGKILL if it does not go. */
  async close(): Promise<void> {
    if (this.exit !== undefined) return;
    if (this.child.connected) this.child.disconnect();
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(killer);
  }

  private record(chunk: Buffer): void {
    // Keeps the tail: enough to explain a failure without holding every log line.
    this.logs = (this.logs + chunk.toString('utf8')).slice(-20_000);
  }
}

/** One GetSecretValue call as the fake endpoint received it. */
export interface SecretsCall {
  readonly target: string;
  readonly secretId: unknown;
  /** The VersionStage asked for, if any (AWSCURRENT when absent). */
  readonly versionStage: unknown;
  /** From the SigV4 Authorization header: who signed, for which region and service. */
  readonly accessKeyId: string | undefined;
  readonly region: string | undefined;
  readonly service: string | undefined;
}

/** One secret the fake serves (AWSCURRENT only, as CloudFormation creates it). */
export interface FakeSecret {
  readonly arn: string;
  readonly name: string;
  readonly value: string;
}

export interface FakeSecretsManager {
  readonly endpoint: string;
  readonly calls: readonly SecretsCall[];
  close(): Promise<void>;
}

/**
 * Secrets Manager's GetSecretValue (JSON 1.1 protocol) on loopback, knowing one secret (one version: AWSCURRENT). The
 * functions reach it through the SDK's service-specific endpoint variable
 * (AWS_ENDPOINT_URL_SECRETS_MANAGER), so the code path of JWT_SECRET_ARN runs unchanged.
 */
export async function startFakeSecretsManager(served: FakeSecret | readonly FakeSecret[]): Promise<FakeSecretsManager> {
  const secrets: readonly FakeSecret[] = Array.isArray(served) ? served : [served as FakeSecret];
  const calls: SecretsCall[] = [];
  const answer = (response: http.ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': randomUUID() });
    response.end(JSON.stringify(body));
  };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const credential = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(String(request.headers.authorization ?? ''));
      let input: { SecretId?: unknown; VersionStage?: unknown } = {};
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as typeof input;
      } catch {
        answer(response, 400, { __type: 'SerializationException', message: 'body is not JSON' });
        return;
      }
      calls.push({ target, secretId: input.SecretId, versionStage: input.VersionStage, accessKeyId: credential?.[1], region: credential?.[2], service: credential?.[3] });
      const secret = secrets.find((candidate) => input.SecretId === candidate.arn || input.SecretId === candidate.name);
      if (request.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
        answer(response, 400, { __type: 'UnknownOperationException', message: `not served here: ${target}` });
      } else if (!credential) {
        answer(response, 400, { __type: 'MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' });
      } else if (!secret) {
        answer(response, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
      } else if (input.VersionStage !== undefined && input.VersionStage !== 'AWSCURRENT') {
        // A secret as CloudFormation creates it: never rotated, so no AWSPREVIOUS version yet.
        answer(response, 400, { __type: 'ResourceNotFoundException', message: `Secrets Manager can't find the specified secret value for staging label: ${String(input.VersionStage)}` });
      } else {
        answer(response, 200, {
          ARN: secret.arn,
          Name: secret.name,
          SecretString: secret.value,
          VersionId: '5a5c3b4e-0000-4000-8000-000000000001',
          VersionStages: ['AWSCURRENT'],
          CreatedDate: 1_735_689_600,
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
