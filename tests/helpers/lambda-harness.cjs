'use strict';
/**
 * A stand-in for the Lambda Node.js runtime around one function, run by Node 22 (plain
 * JavaScript: it must not depend on anything the test's toolchain compiles). Like the real
 * runtime it reads the function from LAMBDA_TASK_ROOT and _HANDLER, loads it once (the init
 * phase), then serves invocations one at a time in the same process, a warm container.
 *
 * It talks to its parent over the IPC channel only; stdout and stderr stay the function's
 * logs, as in CloudWatch. Messages: it sends {type:'ready'} or {type:'init-error', error}
 * once, then for each {type:'invoke', id, event, requestId} one {type:'result', id, result}
 * or {type:'error', id, error}, with the fields the runtime reports (errorType, errorMessage).
 */
const path = require('node:path');

const taskRoot = process.env.LAMBDA_TASK_ROOT;
const [moduleName, exportName] = (process.env._HANDLER || 'index.handler').split('.');
const timeoutMs = Number(process.env.HARNESS_TIMEOUT_SECONDS || 3) * 1000;
delete process.env.HARNESS_TIMEOUT_SECONDS; // not something Lambda sets

const describe = (error) => ({
  errorType: (error && error.name) || typeof error,
  errorMessage: (error && error.message) || String(error),
  stack: error && typeof error.stack === 'string' ? error.stack.split('\n') : [],
});

const send = (message) => new Promise((resolve) => process.send(message, () => resolve()));

// A crash between invocations is a dead container: the parent sees the exit and the output.
process.on('uncaughtException', (error) => {
  process.stderr.write(`harness: uncaught exception: ${(error && error.stack) || error}\n`);
  process.exit(129);
});
process.on('unhandledRejection', (error) => {
  process.stderr.write(`harness: unhandled rejection: ${(error && error.stack) || error}\n`);
  process.exit(128);
});

let handler;
try {
  handler = require(path.join(taskRoot, moduleName))[exportName];
  if (typeof handler !== 'function') throw Object.assign(new Error(`${moduleName}.${exportName} is not a function`), { name: 'Runtime.HandlerNotFound' });
} catch (error) {
  // Lambda reports these as Runtime.ImportModuleError / Runtime.HandlerNotFound.
  send({ type: 'init-error', error: describe(error) }).then(() => process.exit(1));
  handler = undefined;
}

function contextFor(requestId) {
  const deadline = Date.now() + timeoutMs;
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${name}`,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

if (handler) {
  // One invocation at a time, as one Lambda execution environment serves them.
  let queue = Promise.resolve();
  process.on('message', (message) => {
    if (!message || message.type !== 'invoke') return;
    queue = queue.then(async () => {
      try {
        const result = await handler(message.event, contextFor(message.requestId));
        // The runtime serializes the result with JSON.stringify; undefined becomes null.
        await send({ type: 'result', id: message.id, result: JSON.parse(JSON.stringify(result === undefined ? null : result)) });
      } catch (error) {
        await send({ type: 'error', id: message.id, error: describe(error) });
      }
    });
  });
  // The channel closing is the parent's "shut down this container".
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}
