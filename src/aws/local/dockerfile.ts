/**
 * Reading a Dockerfile far enough to run its image as a local process: ENTRYPOINT and CMD (exec
 * or shell form), ENV, WORKDIR, and COPY/ADD, whose destinations map back to the sources in the
 * Dockerfile's folder (the build context). `FROM riots` inherits the worker Dockerfile.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';

export interface ImageSpec {
  dockerfile: string;
  /** The build context: the Dockerfile's folder, also the process's working directory. */
  context: string;
  /** Exec-form argv, or ['/bin/sh', '-c', text] for the shell form. */
  entrypoint: string[];
  /** Exec-form CMD (ignored when ENTRYPOINT is in shell form, as Docker does). */
  cmd: string[];
  shellForm: boolean;
  env: Record<string, string>;
  workdir: string;
  copies: { sources: string[]; dest: string; context: string }[];
}

/** Instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const out: { op: string; args: string }[] = [];
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(current);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    current = '';
  }
  return out;
}

function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Split words as a shell does for ENV and COPY lines: quotes group, backslash escapes. */
function words(s: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) word = (word ?? '') + s[++i]!;
      else word = (word ?? '') + ch;
    } else if (/\s/.test(ch)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else {
      word ??= '';
      if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '\\' && i + 1 < s.length) word += s[++i];
      else word += ch;
    }
  }
  if (word !== undefined) out.push(word);
  return out;
}

/**
 * Read a Dockerfile. `base` resolves `FROM riots` (the worker image's local tag) to its spec;
 * `context` is the build context (default: the Dockerfile's folder).
 * @throws Error when the file cannot be read.
 */
export function readDockerfile(path: string, base?: (from: string) => ImageSpec | undefined, context = dirname(path)): ImageSpec {
  const spec: ImageSpec = { dockerfile: path, context, entrypoint: [], cmd: [], shellForm: false, env: {}, workdir: '/', copies: [] };
  for (const { op, args } of instructions(readFileSync(path, 'utf8'))) {
    switch (op) {
      case 'FROM': {
        const image = words(args)[0] ?? '';
        const parent = base?.(image);
        if (parent)
          Object.assign(spec, {
            entrypoint: [...parent.entrypoint],
            cmd: [...parent.cmd],
            shellForm: parent.shellForm,
            env: { ...parent.env },
            workdir: parent.workdir,
            copies: [...parent.copies],
          });
        break;
      }
      case 'ENTRYPOINT': {
        const exec = execForm(args);
        spec.entrypoint = exec ?? ['/bin/sh', '-c', args];
        spec.shellForm = exec === undefined;
        spec.cmd = []; // Docker resets CMD when ENTRYPOINT is set
        break;
      }
      case 'CMD':
        spec.cmd = execForm(args) ?? ['/bin/sh', '-c', args];
        break;
      case 'WORKDIR':
        spec.workdir = posix.resolve(spec.workdir, args);
        break;
      case 'ENV': {
        const w = words(args);
        if (w.length > 0 && !w[0]!.includes('=')) spec.env[w[0]!] = args.slice(args.indexOf(w[0]!) + w[0]!.length).trim();
        else for (const kv of w) spec.env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
        break;
      }
      case 'COPY':
      case 'ADD': {
        const list = (execForm(args) ?? words(args)).filter((w) => !w.startsWith('--'));
        if (args.includes('--from=')) break; // copies from other build stages have no local source
        if (list.length >= 2) spec.copies.push({ sources: list.slice(0, -1), dest: posix.resolve(spec.workdir, list[list.length - 1]!), context });
        break;
      }
    }
  }
  return spec;
}

/** The local file a container path came from through COPY/ADD, if any. */
export function mapContainerPath(spec: ImageSpec, p: string, cwd = spec.workdir): string | undefined {
  const abs = posix.resolve(cwd, p);
  for (const c of [...spec.copies].reverse()) {
    for (const s of c.sources) {
      const local = join(c.context, s);
      if (abs === c.dest || abs === posix.join(c.dest, basename(s))) {
        if (existsSync(local)) return local;
      } else if (abs.startsWith(c.dest + '/')) {
        const inside = join(local, abs.slice(c.dest.length + 1));
        if (existsSync(inside)) return inside;
      }
    }
  }
  return undefined;
}

/** The argv a job runs: ENTRYPOINT + (command override, else CMD), with copied paths mapped back. */
export function jobArgv(spec: ImageSpec, command: string[] | undefined): string[] {
  const tail = spec.shellForm ? [] : command && command.length > 0 ? command : spec.cmd;
  const argv = spec.entrypoint.length > 0 ? [...spec.entrypoint, ...tail] : [...tail];
  return argv.map((a, i) => (i === 0 && !a.includes('/') ? a : a.startsWith('-') ? a : (mapContainerPath(spec, a) ?? a)));
}
