import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one structured JSON logger (Powertools). Its Middy middleware adds the Lambda request id
 * to every line. Rule for callers: never log a password, token, secret or request body.
 * Level from `POWERTOOLS_LOG_LEVEL` / `LOG_LEVEL` (default INFO).
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'secure-upload-api' });
