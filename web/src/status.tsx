import { useMemo, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface StatusApi {
  readonly message: { text: string; kind: 'info' | 'error' } | undefined;
  info(text: string): void;
  error(error: unknown): void;
  clear(): void;
}

/** Turns anything thrown into a sentence for people. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429 && error.retryAfter) return `${error.message}. Try again in ${Math.ceil(error.retryAfter / 60)} minute(s).`;
    return error.message;
  }
  if (error instanceof TypeError) return 'Could not reach the server. Check your connection and try again.';
  return error instanceof Error ? error.message : String(error);
}

/** One message line for the whole page, announced by screen readers (aria-live). */
export function useStatus(): StatusApi {
  const [message, setMessage] = useState<StatusApi['message']>(undefined);
  return useMemo(
    () => ({
      message,
      info: (text: string) => setMessage({ text, kind: 'info' }),
      error: (error: unknown) => setMessage({ text: describe(error), kind: 'error' }),
      clear: () => setMessage(undefined),
    }),
    [message],
  );
}

export function Status({ status }: { status: StatusApi }) {
  const { message } = status;
  // Both regions always exist, so assistive technology is listening before a message arrives.
  return (
    <div class="status-area">
      <div role="alert" class={message?.kind === 'error' ? 'status error' : 'status-empty'}>
        {message?.kind === 'error' ? message.text : ''}
      </div>
      <div role="status" aria-live="polite" class={message?.kind === 'info' ? 'status info' : 'status-empty'}>
        {message?.kind === 'info' ? message.text : ''}
      </div>
    </div>
  );
}

/**
 * A form's busy flag and its runner: clears the status, runs `work`, shows what it throws
 * (`explain` may put a known refusal in people's words), and is idle again after.
 */
export function useSubmit(status: StatusApi): {
  busy: boolean;
  run: (work: () => Promise<void>, explain?: (error: unknown) => string | undefined) => Promise<void>;
} {
  const [busy, setBusy] = useState(false);
  const run = async (work: () => Promise<void>, explain?: (error: unknown) => string | undefined): Promise<void> => {
    setBusy(true);
    status.clear();
    try {
      await work();
    } catch (error) {
      const known = explain?.(error);
      if (known) status.error(new Error(known));
      else status.error(error);
    } finally {
      setBusy(false);
    }
  };
  return { busy, run };
}
