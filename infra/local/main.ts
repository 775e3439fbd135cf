/**
 * `npm start`: the API on http://localhost:8000 with nothing installed but Node.
 * Reads `.env` if present (real environment variables win), then starts the local runtime.
 */
import fs from 'node:fs';
import { ConfigError } from '../../lib/config';
import { ensureWebBuild } from '../../web/build';
import { startLocalRuntime } from './runtime';

async function main(): Promise<void> {
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  // Lambda runs Node 22; locally Node 20 is supported, so the SDK's upgrade notice is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

  // Handlers first: a Ctrl-C during start-up must stop cleanly too.
  let runtime: Awaited<ReturnType<typeof startLocalRuntime>> | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1); // a second Ctrl-C: leave now
    stopping = true;
    console.log(`${signal}: stopping...`);
    (runtime?.close() ?? Promise.resolve()).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  // The web client at / is built from web/ on first start and whenever its sources change.
  await ensureWebBuild({ log: (line) => console.log(line) });
  runtime = await startLocalRuntime({ log: (line) => console.log(line) });

  for (const note of runtime.notes) console.log(note);
  console.log(`App:     ${runtime.apiUrl}/`);
  console.log(`API:     ${runtime.apiUrl}`);
  console.log(`Docs:    ${runtime.docsUrl}`);
  console.log(`Storage: ${runtime.s3Url}`);
  console.log('Ready. Press Ctrl-C to stop.');
}

main().catch((error: unknown) => {
  // Bad configuration is one clear line, not a stack trace.
  if (error instanceof ConfigError) console.error(error.message);
  else if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') {
    console.error(`Port already in use: ${error.message}. Set PORT or S3_PORT to a free port.`);
  } else console.error(error);
  process.exit(1);
});
