/**
 * Referencing the user function (defineUserFunction, { module, name }), finding it again in a
 * module's exports, the checks apply() makes, and otherArgs' clone check.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Block, ControlsError, ReaderInfo } from '../../src/index.js';
import {
  checkUserFunctionArg,
  defineUserFunction,
  exportNameInMain,
  isComputeWorker,
  loadUserFunction,
  resolveUserFunction,
  userFunctionSpecOf,
  INLINE_FUNCTION_FIX,
} from '../../src/userfunction.js';
import { checkOtherArgs, cloneOtherArgs, findUncloneable } from '../../src/otherargs.js';
import * as fns from '../helpers/userfns.js';

const fnsUrl = pathToFileURL(path.resolve('test/helpers/userfns.ts')).href;
const noop = (): void => undefined;

describe('defineUserFunction', () => {
  test('returns the same function, tagged with its module and order of definition', () => {
    const url = 'file:///tmp/some/module.ts';
    const f1 = (): void => undefined;
    const f2 = function named(): void {};
    assert.equal(defineUserFunction(url, f1), f1);
    defineUserFunction(url, f2, 'second');
    assert.deepEqual(userFunctionSpecOf(f1), { moduleUrl: url, ordinal: 0, functionName: 'f1' });
    assert.deepEqual(userFunctionSpecOf(f2), { moduleUrl: url, ordinal: 1, exportName: 'second', functionName: 'named' });
    assert.equal(defineUserFunction(url, f1), f1, 'defining again is harmless');
    assert.throws(() => defineUserFunction('file:///other.ts', f1), /already defined for file:\/\/\/tmp\/some\/module\.ts/);
    assert.equal(userFunctionSpecOf(noop), undefined);
    assert.deepEqual(Object.keys(f1), [], 'the tag is not enumerable');
  });

  test('parameters are typed without annotations (inputs and outputs hold Blocks)', () => {
    const f = defineUserFunction('file:///typed.ts', (info, inputs, outputs) => {
      // without type arguments the names are not known: inputs.a may be undefined (noUncheckedIndexedAccess)
      outputs.out = inputs.a!.like('Float32', info.getTotalSize()[0] > 0 ? 1 : 2);
    });
    const outputs: Record<string, Block> = {};
    const a = Block.create('Int16', 1, 2, 3);
    void f(
      new ReaderInfo({ projection: '', transform: [0, 1, 0, 0, 0, -1], cols: 3, rows: 2, windowXSize: 3, windowYSize: 2, overlap: 0 }),
      { a },
      outputs,
      undefined,
    );
    assert.equal(outputs.out!.dtype, 'Float32');
  });

  test('paths become file URLs; other schemes are refused', () => {
    const f = (): void => undefined;
    defineUserFunction('relative/mod.js', f);
    assert.equal(userFunctionSpecOf(f)!.moduleUrl, pathToFileURL(path.resolve('relative/mod.js')).href);
    assert.throws(
      () => defineUserFunction('https://example.com/m.js', () => undefined),
      (e: unknown) => e instanceof ControlsError && /not a local file/.test(e.message),
    );
    assert.throws(() => defineUserFunction(fnsUrl, 42 as never), ControlsError);
  });

  test('a { module, name } reference gives a spec with the export name', () => {
    assert.deepEqual(userFunctionSpecOf({ module: fnsUrl, name: 'copyA' }), { moduleUrl: fnsUrl, exportName: 'copyA' });
  });
});

describe('resolveUserFunction', () => {
  test('finds a tagged export by its definition, and a named export by name', async () => {
    assert.equal(resolveUserFunction(fns, userFunctionSpecOf(fns.combine)!), fns.combine);
    assert.equal(resolveUserFunction(fns, userFunctionSpecOf(fns.failsOnBlock3)!), fns.failsOnBlock3);
    assert.equal(await loadUserFunction({ moduleUrl: fnsUrl, exportName: 'copyA' }), fns.copyA);
    assert.equal(await loadUserFunction(userFunctionSpecOf(fns.combine)!), fns.combine);
  });

  test('a sole tagged export is found even from another URL (a bundle); ambiguity and absence are clear errors', () => {
    const only = defineUserFunction('file:///bundle.js', () => undefined);
    assert.equal(resolveUserFunction({ only, other: 3 }, { moduleUrl: 'file:///src/fn.ts', ordinal: 5 }), only);
    const a = defineUserFunction('file:///two.js', () => undefined);
    const b = defineUserFunction('file:///two.js', () => undefined);
    assert.throws(
      () => resolveUserFunction({ a, b }, { moduleUrl: 'file:///elsewhere.js', ordinal: 9 }),
      (e: unknown) =>
        e instanceof ControlsError && /exports several user functions \(a, b\).*defineUserFunction\(import\.meta\.url, fn, 'exportName'\)/.test(e.message),
    );
    assert.equal(resolveUserFunction({ a, b }, userFunctionSpecOf(b)!), b);
    assert.throws(() => resolveUserFunction({ x: 1 }, { moduleUrl: 'file:///m.js', ordinal: 0 }), /does not export the user function/);
    assert.throws(() => resolveUserFunction({ x: 1 }, { moduleUrl: 'file:///m.js', exportName: 'x' }), /no exported function 'x' \(it is number\)/);
  });

  test('a module that fails to import is a ControlsError naming it, with the cause', async () => {
    await assert.rejects(loadUserFunction({ moduleUrl: 'file:///no/such/module.js', exportName: 'f' }), (e: unknown) => {
      assert.ok(e instanceof ControlsError);
      assert.match(e.message, /importing the user function's module file:\/\/\/no\/such\/module\.js failed/);
      assert.ok(e.cause);
      return true;
    });
  });
});

describe('checkUserFunctionArg', () => {
  test('sequential runs take any function; workers need a reference, and the error shows the fix', () => {
    assert.equal(checkUserFunctionArg(noop, undefined), undefined);
    assert.deepEqual(checkUserFunctionArg(fns.combine, 'CW_THREADS'), userFunctionSpecOf(fns.combine));
    assert.throws(
      () => checkUserFunctionArg(noop, 'CW_SUBPROC'),
      (e: unknown) =>
        e instanceof ControlsError &&
        e.message.includes("computeWorkerKind CW_SUBPROC runs the user function 'noop'") &&
        e.message.includes(INLINE_FUNCTION_FIX),
    );
    assert.throws(() => checkUserFunctionArg('fn', undefined), /userFunction must be a function/);
    assert.equal(isComputeWorker(), false);
  });
});

describe('exportNameInMain', () => {
  test('finds the export name, but never imports a module that is still running its top level (it would wait for ever)', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'riots-exportname-'));
    try {
      writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}\n');
      const src = pathToFileURL(path.resolve('src/userfunction.ts')).href;
      writeFileSync(
        path.join(dir, 'onefile.ts'),
        [
          `import { checkUserFunctionArg, defineUserFunction, exportNameInMain } from ${JSON.stringify(src)};`,
          `export const fn = defineUserFunction(import.meta.url, () => undefined);`,
          `// what apply() does first, from this module's top level (the one-file layout)`,
          `checkUserFunctionArg(fn, 'CW_SUBPROC');`,
          `export const nameSeen = await exportNameInMain(fn);`,
        ].join('\n'),
      );
      const mod = (await import(pathToFileURL(path.join(dir, 'onefile.ts')).href)) as { fn: () => void; nameSeen: string | undefined };
      assert.equal(mod.nameSeen, undefined, 'no import of a module still evaluating');
      // called again once the module has finished: the name is found
      checkUserFunctionArg(mod.fn, 'CW_SUBPROC');
      assert.equal(await exportNameInMain(mod.fn), 'fn');
      assert.equal(await exportNameInMain(fns.combine), 'combine');
      assert.equal(await exportNameInMain({ module: fnsUrl, name: 'copyA' }), 'copyA');
      assert.equal(await exportNameInMain(noop), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('otherArgs for workers', () => {
  class Point {
    constructor(
      public x: number,
      public y: number,
    ) {}
  }
  class WithMethod {
    v = 1;
    get double(): number {
      return this.v * 2;
    }
  }
  test('structured-clone data passes; the first offending path is named', () => {
    const ok = {
      n: 1,
      s: 'x',
      list: [1, [2, 3]],
      f32: new Float32Array(3),
      m: new Map([['k', { a: 1 }]]),
      set: new Set([1]),
      d: new Date(0),
      nil: null,
      u: undefined,
      pt: new Point(1, 2),
    };
    assert.equal(findUncloneable(ok), undefined);
    checkOtherArgs(ok);
    checkOtherArgs(undefined);
    assert.deepEqual(findUncloneable({ a: { 'odd key': [0, () => 1] } })?.path, 'otherArgs.a["odd key"][1]');
    assert.match(findUncloneable({ w: new WithMethod() })!.reason, /instance of class WithMethod/);
    assert.match(findUncloneable({ p: Promise.resolve(1) })!.reason, /Promise, which cannot be copied/);
    assert.equal(findUncloneable(new Map([['k', { f: noop }]]))?.path, 'otherArgs.get("k").f');
    assert.match(findUncloneable({ [Symbol('s')]: 1 })!.path, /otherArgs\[Symbol\(s\)\]/);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    checkOtherArgs(cyclic);
    assert.throws(
      () => checkOtherArgs({ deep: { fn: noop } }),
      (e: unknown) => e instanceof ControlsError && /otherArgs\.deep\.fn cannot be sent to compute workers: it is a function \(noop\)/.test(e.message),
    );
  });

  test('each copy is independent of the caller’s object', () => {
    const mine = { count: 0, list: [1] };
    const copy = cloneOtherArgs(mine);
    copy.count = 5;
    copy.list.push(2);
    assert.deepEqual(mine, { count: 0, list: [1] });
  });
});
