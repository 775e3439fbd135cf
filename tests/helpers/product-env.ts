import { CONFIG_VARIABLES } from '../../lib/config';

/**
 * Whether an environment variable changes what the product does: every variable the config
 * schema reads, and Powertools' logger settings. Derived from the schema, so a new setting
 * can never leak from a developer's shell into the tests.
 */
export function isProductVariable(name: string): boolean {
  return CONFIG_VARIABLES.includes(name) || name.startsWith('POWERTOOLS_');
}
