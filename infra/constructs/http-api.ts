import { Duration, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnRoute, CfnStage, CorsHttpMethod, HttpApi, HttpMethod, HttpStage, LogGroupLogDestination, type HttpRoute } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface HttpApiRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly fn: IFunction;
  /** Whether the function demands a bearer token (it verifies the JWT itself). */
  readonly auth: boolean;
  /** A tighter limit than the stage's, for expensive unauthenticated routes (bcrypt). */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

/** API Gateway's route key, `METHOD /path`: what route settings and metrics name a route by. */
export const routeKey = (route: Pick<HttpApiRoute, 'method' | 'path'>): string => `${route.method} ${route.path}`;

export interface PublicApiProps {
  readonly name: string;
  readonly routes: readonly HttpApiRoute[];
  readonly corsOrigins: readonly string[];
  readonly throttleRate: number;
  readonly throttleBurst: number;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/**
 * The fields of every access log line (JSON, one per request). `requestId` is API Gateway's
 * (the `apigw-requestid` response header); `integrationRequestId` is the Lambda invocation's
 * request id, which is the function's `awsRequestId`: the `requestId` of its log lines and the
 * `instance` of its problem+json answers, so an access line leads to the function's log.
 * The route key, never the raw path: paths carry file ids and, with share links, tokens.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  integrationRequestId: '$context.integration.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  userAgent: '$context.identity.userAgent',
  integrationLatency: '$context.integrationLatency',
  // Lambda's own answer to the invoke (429 when throttled), not the status the function returned.
  integrationStatus: '$context.integration.integrationStatus',
  responseLatency: '$context.responseLatency',
  integrationError: '$context.integrationErrorMessage',
  errorMessage: '$context.error.message',
};

/**
 * An HTTP API (payload format 2.0) with one route per row of the route table, a throttled
 * `$default` stage and JSON access logs. CORS lives here, not in the functions: API Gateway's
 * CORS configuration answers preflights itself and overrides the functions' headers.
 */
export class PublicApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;

  constructor(scope: Construct, id: string, props: PublicApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      apiName: props.name,
      description: 'Secure file upload API',
      createDefaultStage: false,
      corsPreflight:
        props.corsOrigins.length > 0
          ? {
              allowOrigins: [...props.corsOrigins],
              allowMethods: [...new Set(props.routes.map((route) => CorsHttpMethod[route.method]))],
              allowHeaders: ['authorization', 'content-type'],
              exposeHeaders: ['retry-after', 'www-authenticate'],
              // Bearer tokens, not cookies: credentials mode stays off (and `*` stays legal).
              allowCredentials: false,
              maxAge: Duration.hours(1),
            }
          : undefined,
    });

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: props.logRemovalPolicy });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRate, burstLimit: props.throttleBurst },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    // One integration per function: routes that share a handler share its Lambda.
    const integrations = new Map<IFunction, HttpLambdaIntegration>();
    const byKey = new Map<string, HttpRoute>();
    for (const route of props.routes) {
      let integration = integrations.get(route.fn);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${route.fn.node.id}Integration`, route.fn);
        integrations.set(route.fn, integration);
      }
      const [created] = this.api.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
      if (!created) continue;
      byKey.set(routeKey(route), created);
      // API Gateway's JWT authorizer verifies RS256 tokens against an OIDC issuer's published
      // keys; this API issues its own HS256 tokens, so the function verifies them.
      Validations.of(created.node.defaultChild as CfnRoute).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: route.auth
          ? 'Bearer JWT (HS256, issued by this API) verified by the function; API Gateway authorizers cannot verify HS256 tokens.'
          : `Public by design: ${routeKey(route)} must answer without a token (sign-up, sign-in, share links, health, docs).`,
      });
    }

    // Route-level throttles live on the stage's CloudFormation resource (no L2 property). The
    // property is an untyped JSON map, so it takes CloudFormation's own PascalCase names.
    const throttled = props.routes.filter((route) => route.throttle);
    const routeSettings = Object.fromEntries(
      throttled.map((route) => [
        routeKey(route),
        { ThrottlingRateLimit: route.throttle?.rateLimit, ThrottlingBurstLimit: route.throttle?.burstLimit },
      ]),
    );
    if (throttled.length) (this.stage.node.defaultChild as CfnStage).routeSettings = routeSettings;
    // API Gateway rejects a stage whose RouteSettings name a route that does not exist yet
    // ("Unable to find Route by key ... within the provided RouteSettings"), and nothing in the
    // settings is a reference CloudFormation could order by: the stage must wait for its routes.
    // It waits for all of them, with their invoke permissions (children of each route): the
    // stage is what makes the API answer (autoDeploy), so a fresh deploy goes live complete,
    // instead of answering 404 or 500 for whatever is still being created.
    for (const created of byKey.values()) this.stage.node.addDependency(created);
  }

  /** The invoke URL of the `$default` stage, ending in `/`. */
  get url(): string {
    return this.stage.url;
  }
}
