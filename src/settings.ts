/**
 * Settings declared once, as a table: each key with its type, default and meaning, and a parser
 * that checks a given value. One table parses an options object, rejects keys it does not know
 * (with a "did you mean" and the list of valid keys) and documents itself (a test holds the docs
 * to it). Every message names the setting the way the user wrote it: `computeWorkerExtraParams.pollSeconds`.
 */
import { ControlsError } from './errors.js';
import { shellWords } from './shellwords.js';

/** One setting: how it is written, its default and meaning (for docs), and its parser. */
export interface Setting<T> {
  /** What the value is, in words: "seconds", "a string", "true or false". */
  readonly type: string;
  /** The default, as the docs say it ("5", "none", "this machine's CPUs"). */
  readonly default: string;
  readonly meaning: string;
  /**
   * The value for `v` (undefined when not given). `name` is the setting as messages name it.
   * @throws {ControlsError} via `bad` ("<name> must be <expected> (got …)") or its own, naming `name`.
   */
  parse(v: unknown, bad: (expected: string) => never, name: string): T;
}

export type SettingsTable = Readonly<Record<string, Setting<unknown>>>;

/** The values a table parses to, by key. */
export type SettingsOf<T extends SettingsTable> = { -readonly [K in keyof T]: T[K] extends Setting<infer V> ? V : never };

/** Edit distance of two keys (case-insensitive), for "did you mean". */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length] ?? 0;
}

/** The last camelCase word of a key, lower case ("sbatchOptions" -> "options"). */
function lastWord(k: string): string {
  return (/[A-Z][a-z0-9]*$/.exec(k)?.[0] ?? k).toLowerCase();
}

/**
 * The known key a user most likely meant by `key`, if any is close: the same but for case, one
 * the other begins with, one a few edits away, or the only one ending in the same word
 * (`sbatchOptions` given to PBS means `qsubOptions`).
 */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const lkey = key.toLowerCase();
  for (const k of known) {
    const lk = k.toLowerCase();
    const d = lk === lkey ? 0 : lk.startsWith(lkey) || lkey.startsWith(lk) ? 1 : distance(key, k);
    if (d <= Math.max(2, Math.floor(Math.max(key.length, k.length) / 3)) && d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best !== undefined) return best;
  const tail = lastWord(key);
  const same = known.filter((k) => lastWord(k) === tail && tail.length >= 4 && k !== tail);
  return same.length === 1 && tail !== lkey ? same[0] : undefined;
}

/**
 * Refuse keys of `given` that `known` does not list: a typo would otherwise be silently ignored.
 * @param where how the object is named in messages ("computeWorkerExtraParams", "concurrency").
 * @param whose what the keys are settings of ("CW_SLURM", "concurrency").
 * @throws {ControlsError} naming the key, the nearest known one and every valid key.
 */
export function checkKnownKeys(given: object, known: readonly string[], where: string, whose: string): void {
  for (const k of Object.keys(given)) {
    if (known.includes(k)) continue;
    const near = didYouMean(k, known);
    throw new ControlsError(
      `${where}.${k} is not a setting of ${whose}${near ? ` (did you mean ${near}?)` : ''}; its settings: ${known.length > 0 ? known.join(', ') : 'none'}`,
    );
  }
}

/**
 * Parse `given` with `table`: every key checked and converted, defaults for those not given.
 * With `strict` (the default) keys the table does not know are refused (see {@link checkKnownKeys}).
 * @throws {ControlsError} naming the setting, what it must be and what it got.
 */
export function parseSettings<T extends SettingsTable>(
  table: T,
  given: Readonly<Record<string, unknown>>,
  where: string,
  opts: { whose?: string; strict?: boolean } = {},
): SettingsOf<T> {
  if (opts.strict !== false) checkKnownKeys(given, Object.keys(table), where, opts.whose ?? where);
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(table)) {
    const v = given[k];
    out[k] = s.parse(
      v,
      (expected) => {
        throw new ControlsError(`${where}.${k} must be ${expected} (got ${describeValue(v)})`);
      },
      `${where}.${k}`,
    );
  }
  return out as SettingsOf<T>;
}

/** A value as a message shows it: strings quoted, so that '512' and 512 differ. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** The table as Markdown rows `| key | default | meaning |`, as the docs show it. */
export function settingsMarkdown(table: SettingsTable): string {
  return Object.entries(table)
    .map(([k, s]) => `| \`${k}\` | ${s.default} | ${s.meaning} |`)
    .join('\n');
}

// ---- setting kinds ----

type Meta = { default?: string; meaning: string };

/** Seconds; `allowZero` admits 0. */
export function seconds(dflt: number, meaning: string, allowZero = false): Setting<number> {
  return {
    type: `a ${allowZero ? 'non-negative' : 'positive'} number of seconds`,
    default: String(dflt),
    meaning,
    parse: (v, bad) => {
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0))
        bad(`a ${allowZero ? 'non-negative' : 'positive'} number of seconds`);
      return v as number;
    },
  };
}

/** Seconds with no fixed default (undefined when not given: the caller derives one). */
export function optionalSeconds(m: Meta): Setting<number | undefined> {
  return {
    type: 'a positive number of seconds',
    default: m.default ?? 'none',
    meaning: m.meaning,
    parse: (v, bad) => {
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) bad('a positive number of seconds');
      return v as number;
    },
  };
}

/** A positive whole number; undefined when not given and `dflt` is undefined. */
export function positiveInt<D extends number | undefined>(dflt: D, m: Meta): Setting<D extends number ? number : number | undefined> {
  return {
    type: 'a positive whole number',
    default: m.default ?? String(dflt),
    meaning: m.meaning,
    parse: (v, bad) => {
      if (v === undefined) return dflt as never;
      if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad('a positive whole number');
      return v as never;
    },
  };
}

/** A number of at least `min`. */
export function numberAtLeast(min: number, dflt: number, m: Meta): Setting<number> {
  return {
    type: `a number, ${min} or more`,
    default: m.default ?? String(dflt),
    meaning: m.meaning,
    parse: (v, bad) => {
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min) bad(`a number, ${min} or more`);
      return v as number;
    },
  };
}

/** A non-empty string, or undefined. */
export function text(m: Meta): Setting<string | undefined> {
  return {
    type: 'a non-empty string',
    default: m.default ?? 'none',
    meaning: m.meaning,
    parse: (v, bad) => {
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v === '') bad('a non-empty string');
      return v as string;
    },
  };
}

export function flag(dflt: boolean, meaning: string): Setting<boolean> {
  return {
    type: 'true or false',
    default: String(dflt),
    meaning,
    parse: (v, bad) => {
      if (v === undefined) return dflt;
      if (typeof v !== 'boolean') bad('true or false');
      return v as boolean;
    },
  };
}

/** One of a few literal strings. */
export function oneOf<const C extends string>(choices: readonly C[], dflt: C, meaning: string): Setting<C> {
  const list = choices.map((c) => `'${c}'`).join(', ');
  return {
    type: `one of ${list}`,
    default: `\`${dflt}\``,
    meaning,
    parse: (v, bad) => {
      if (v === undefined) return dflt;
      if (!choices.includes(v as C)) bad(`one of ${list}`);
      return v as C;
    },
  };
}

/** Any value, checked by the code that uses it (a value whose rules live elsewhere). */
export function opaque(m: Meta): Setting<unknown> {
  return { type: 'see its meaning', default: m.default ?? 'none', meaning: m.meaning, parse: (v) => v };
}

/** NAME: value strings for an environment; `reserved(name)` says why a name may not be set (undefined: it may). */
export function environment(reserved: (name: string) => string | undefined, meaning: string): Setting<Record<string, string>> {
  return {
    type: 'an object of NAME: value strings',
    default: 'none',
    meaning,
    parse: (v, bad, setting) => {
      if (v === undefined) return {};
      if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('an object of NAME: value strings');
      for (const [name, x] of Object.entries(v as object)) {
        if (typeof x !== 'string') throw new ControlsError(`${setting}.${name} must be a string (got ${describeValue(x)})`);
        const why = reserved(name);
        if (why !== undefined) throw new ControlsError(`${setting} may not set ${name} (${why})`);
      }
      return { ...(v as Record<string, string>) };
    },
  };
}

/** A custom parser; undefined when not given. */
export function custom<T>(type: string, m: Meta, parse: (v: unknown, bad: (expected: string) => never) => T | undefined): Setting<T | undefined> {
  return { type, default: m.default ?? 'none', meaning: m.meaning, parse: (v, bad) => (v === undefined ? undefined : parse(v, bad)) };
}

/** Shell words: a string (POSIX quoting) or an array of strings; undefined when not given. */
export function words(m: Meta): Setting<string[] | undefined> {
  return custom('a string of shell words or an array of strings', m, (v, bad) => {
    if (typeof v === 'string') {
      try {
        return shellWords(v);
      } catch (err) {
        return bad(`a string of shell words (${(err as Error).message})`);
      }
    }
    if (Array.isArray(v) && v.every((w) => typeof w === 'string')) return [...v];
    return bad('a string of shell words or an array of strings');
  });
}
