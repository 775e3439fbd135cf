import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Which database's transaction the current async call chain is inside. A statement sent to the
 * database itself from inside its own transaction is a bug: on SQLite it would wait forever
 * for the transaction it belongs to, on PostgreSQL it would run outside it. Both fail loudly.
 */
const scope = new AsyncLocalStorage<object>();

export function insideTransaction<T>(database: object, work: () => Promise<T>): Promise<T> {
  return scope.run(database, work);
}

export function assertOutsideTransaction(database: object): void {
  if (scope.getStore() === database) {
    throw new Error('A statement on the database inside one of its transactions: use the transaction handle (tx)');
  }
}
