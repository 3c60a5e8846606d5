/**
 * Waiting with a bound: every wait in riots that could stall says what it waited for when it
 * gives up (withTimeout), or, where giving up is the plan, simply stops waiting (settleWithin).
 */
import { TimeoutError } from './errors.js';

/**
 * Resolve with `p`, or reject with a TimeoutError naming `what` after `seconds` (null: never).
 * @throws {TimeoutError} "timed out after N s waiting for <what>".
 */
export function withTimeout<T>(p: Promise<T>, seconds: number | null, what: string): Promise<T> {
  if (seconds === null) return p;
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new TimeoutError(`timed out after ${seconds} s waiting for ${what}`)), seconds * 1000);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Resolve once `p` settles (either way) or `ms` have passed, whichever comes first; never rejects. */
export function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    const done = (): void => {
      clearTimeout(t);
      resolve();
    };
    p.then(done, done);
  });
}

/** `p`'s value, or undefined when it rejects or has not settled within `ms`; never rejects. */
export function valueWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(undefined);
      },
    );
  });
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
