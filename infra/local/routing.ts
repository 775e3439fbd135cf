import type { Route } from '../../functions/routes';

export interface RouteMatch {
  readonly route: Route;
  readonly routeKey: string;
  readonly pathParameters: Record<string, string> | undefined;
}

interface CompiledRoute {
  readonly route: Route;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  /** Literal routes win over parameterized ones, as in API Gateway. */
  readonly specificity: number;
}

/** Matches requests against the route table the way API Gateway HTTP APIs do. */
export class Router {
  private readonly compiled: CompiledRoute[];

  constructor(routes: readonly Route[]) {
    this.compiled = routes
      .map((route) => compile(route))
      .sort((a, b) => b.specificity - a.specificity);
  }

  /** Throws URIError for a malformed percent-encoding in a path parameter (answer 400). */
  match(method: string, path: string): RouteMatch | undefined {
    for (const candidate of this.compiled) {
      if (candidate.route.method !== method) continue;
      const found = candidate.pattern.exec(path);
      if (!found) continue;
      const params: Record<string, string> = {};
      candidate.names.forEach((name, index) => {
        params[name] = decodeURIComponent(found[index + 1] ?? '');
      });
      return {
        route: candidate.route,
        routeKey: `${candidate.route.method} ${candidate.route.path}`,
        pathParameters: candidate.names.length ? params : undefined,
      };
    }
    return undefined;
  }

  /** Methods any route accepts at this path (for CORS preflight answers). */
  methodsFor(path: string): string[] {
    return this.compiled.filter((candidate) => candidate.pattern.test(path)).map((candidate) => candidate.route.method);
  }
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  let literal = 0;
  const source = route.path
    .split('/')
    .map((segment) => {
      const greedy = /^\{(\w+)\+\}$/.exec(segment);
      if (greedy) {
        names.push(greedy[1] ?? 'proxy');
        return '(.+)';
      }
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param) {
        names.push(param[1] ?? 'param');
        return '([^/]+)';
      }
      literal += 1;
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), names, specificity: literal * 10 - (route.path.includes('+}') ? 5 : 0) };
}
