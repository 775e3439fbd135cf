/**
 * Creation order in the synthesized template. CloudFormation creates a resource after those it
 * names in `DependsOn` and those it references (`Ref`, `Fn::GetAtt`, `Fn::Sub`), and in any
 * order otherwise. A first deploy failed because the `$default` stage names routes in its
 * RouteSettings by key, a plain string, so the stage could be created before them; these tests
 * look for that kind of hazard wherever a resource needs another one that it does not reference.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { handlerNames, routes } from '../../functions/routes';
import { readSettings } from '../../infra/settings';
import { functionId, functionNeeds, SecureUploadStack } from '../../infra/stack';

type Json = Record<string, unknown>;
interface Resource {
  readonly Type: string;
  readonly Properties?: Json;
  readonly DependsOn?: string | string[];
}

const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new SecureUploadStack(app, 'Test', { settings: readSettings((key) => app.node.tryGetContext(key)) });
const resources = Template.fromStack(stack).toJSON().Resources as Record<string, Resource>;

/** Logical ids a value references: Ref, Fn::GetAtt and `${Id}` / `${Id.Attr}` inside Fn::Sub. */
function references(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) references(item, found);
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref' && typeof inner === 'string') found.add(inner);
      else if (key === 'Fn::GetAtt') found.add(Array.isArray(inner) ? String(inner[0]) : String(inner).split('.')[0] ?? '');
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(inner) ? inner[0] : inner;
        for (const match of String(text).matchAll(/\$\{([A-Za-z0-9]+)(\.[A-Za-z0-9.]+)?\}/g)) found.add(match[1] ?? '');
        if (Array.isArray(inner)) references(inner[1], found);
      } else references(inner, found);
    }
  }
  return found;
}

/** What CloudFormation must create before `id`: its direct dependencies, explicit and implicit. */
function directDependencies(id: string): string[] {
  const resource = resources[id];
  if (!resource) throw new Error(`no resource ${id}`);
  const explicit = [resource.DependsOn ?? []].flat();
  return [...new Set([...explicit, ...references(resource.Properties)])].filter((dep) => dep in resources);
}

const closures = new Map<string, Set<string>>();
/** Everything created before `id` (the transitive closure of its dependencies). */
function createdBefore(id: string): Set<string> {
  const cached = closures.get(id);
  if (cached) return cached;
  const seen = new Set<string>();
  const pending = [...directDependencies(id)];
  while (pending.length) {
    const next = pending.pop() ?? '';
    if (seen.has(next)) continue;
    seen.add(next);
    pending.push(...directDependencies(next));
  }
  closures.set(id, seen);
  return seen;
}

const ofType = (type: string): [string, Resource][] => Object.entries(resources).filter(([, resource]) => resource.Type === type);
/** Which of `needed` are not created before `id` (empty when the order is guaranteed). */
const missing = (id: string, needed: readonly string[]): string[] => needed.filter((dep) => !createdBefore(id).has(dep));

/** Our function resources by handler name (plus the sweeper). */
function functionIds(): Map<string, string> {
  const found = new Map<string, string>();
  const functions = ofType('AWS::Lambda::Function');
  for (const handler of [...handlerNames(), 'sweep-uploads']) {
    const prefix = functionId(handler);
    const entry = functions.find(([id]) => id.startsWith(prefix) && /^[0-9A-F]{8}$/.test(id.slice(prefix.length)));
    if (!entry) throw new Error(`no function for ${handler}`);
    found.set(handler, entry[0]);
  }
  return found;
}

describe('the whole template', () => {
  it('has no dependency cycle (CloudFormation would refuse it)', () => {
    const cyclic = Object.keys(resources).filter((id) => createdBefore(id).has(id));
    expect(cyclic).toEqual([]);
  });

  it('creates the VPC flow log after the policy that lets it write to its log group', () => {
    const [[flowLogId, flowLog] = ['', { Type: '' }]] = ofType('AWS::EC2::FlowLog');
    const role = (flowLog.Properties?.DeliverLogsPermissionArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const policies = ofType('AWS::IAM::Policy')
      .filter(([, policy]) => JSON.stringify(policy.Properties?.Roles).includes(`"${role}"`))
      .map(([id]) => id);
    expect(policies).toHaveLength(1);
    expect(missing(flowLogId, policies)).toEqual([]);
  });
});

describe('the HTTP API stage', () => {
  const stages = ofType('AWS::ApiGatewayV2::Stage');
  const routeResources = ofType('AWS::ApiGatewayV2::Route');

  it('is created after every route its RouteSettings name', () => {
    const checked: string[] = [];
    for (const [stageId, stage] of stages) {
      const settings = (stage.Properties?.RouteSettings ?? {}) as Json;
      for (const key of Object.keys(settings)) {
        const route = routeResources.find(([, resource]) => resource.Properties?.RouteKey === key);
        expect({ key, route: route?.[0] }).toEqual({ key, route: expect.any(String) });
        expect({ stage: stageId, key, notBefore: missing(stageId, [route?.[0] ?? '']) }).toEqual({ stage: stageId, key, notBefore: [] });
        checked.push(key);
      }
    }
    // The real table throttles its bcrypt routes on the stage: the check above did check something.
    expect(checked.sort()).toEqual(routes.filter((route) => route.needs.bcrypt).map((route) => `${route.method} ${route.path}`).sort());
  });

  it('goes live only after every route and every invoke permission API Gateway needs', () => {
    const permissions = ofType('AWS::Lambda::Permission')
      .filter(([, resource]) => resource.Properties?.Principal === 'apigateway.amazonaws.com')
      .map(([id]) => id);
    expect(permissions.length).toBeGreaterThanOrEqual(handlerNames().length);
    for (const [stageId] of stages) {
      expect(missing(stageId, routeResources.map(([id]) => id))).toEqual([]);
      expect(missing(stageId, permissions)).toEqual([]);
    }
  });
});

describe('functions in the VPC', () => {
  const mountTargets = ofType('AWS::EFS::MountTarget').map(([id]) => id);
  const endpoints = ofType('AWS::EC2::VPCEndpoint');
  const endpointId = (service: RegExp): string => {
    const found = endpoints.find(([, resource]) => service.test(JSON.stringify(resource.Properties?.ServiceName)));
    if (!found) throw new Error(`no endpoint for ${service}`);
    return found[0];
  };
  const s3Endpoint = endpointId(/\.s3"/);
  const secretsEndpoint = endpointId(/secretsmanager/);
  /** The Secrets Manager endpoint's ingress rule: without it the endpoint exists but drops the call. */
  const secretsIngress = ofType('AWS::EC2::SecurityGroupIngress')
    .filter(([, resource]) => resource.Properties?.FromPort === 443)
    .map(([id]) => id);

  it('are created after the mount targets of the file system they mount (CDK does this itself)', () => {
    expect(mountTargets).toHaveLength(2);
    for (const [handler, id] of functionIds()) {
      const needsDb = handler === 'sweep-uploads' || functionNeeds(routes, handler).db;
      if (needsDb) expect({ handler, notBefore: missing(id, mountTargets) }).toEqual({ handler, notBefore: [] });
    }
  });

  it('are created after the endpoints they call, with the endpoint policy and security group rules', () => {
    expect(secretsIngress).toHaveLength(1);
    for (const [handler, id] of functionIds()) {
      const needs = handler === 'sweep-uploads' ? { db: 'write', s3: ['DeleteObject'], jwt: false } : functionNeeds(routes, handler);
      if (!needs.db) continue; // outside the VPC: S3 and Secrets Manager on their public endpoints
      const needed = [...(needs.s3 ? [s3Endpoint] : []), ...(needs.jwt ? [secretsEndpoint, ...secretsIngress] : [])];
      expect({ handler, notBefore: missing(id, needed) }).toEqual({ handler, notBefore: [] });
    }
  });

  it('write to their own log group, which exists (with its retention) before them', () => {
    for (const [handler, id] of functionIds()) {
      const group = ((resources[id]?.Properties?.LoggingConfig as Json | undefined)?.LogGroup as { Ref?: string } | undefined)?.Ref ?? '';
      expect({ handler, type: resources[group]?.Type, notBefore: missing(id, [group]) }).toEqual({ handler, type: 'AWS::Logs::LogGroup', notBefore: [] });
    }
  });
});
