/**
 * W1's user function, the mean of inputs a and b as Float32, written once here and into a module
 * file for each benchmark, so that every W1 benchmark (sequential, CW_SUBPROC, CW_AWSBATCH) runs
 * exactly the same function. The module exports it as `mean`, made with defineUserFunction so
 * that compute workers can import it.
 */
import { writeFileSync } from 'node:fs';

/**
 * Write the module to `file` (.mjs, or .ts for runs under tsx), importing defineUserFunction from
 * `userFunctionModule` (riots' src/index.ts, or dist/index.js of a
 * build). Returns `file`.
 */
export function writeW1MeanModule(file: string, userFunctionModule: string): string {
  writeFileSync(
    file,
    `// W1's user function (written by bench/lib/w1fn.ts)
import { defineUserFunction } from '${userFunctionModule}';
export const mean = defineUserFunction(import.meta.url, (_info, inputs, outputs) => {
  const x = inputs.a.data;
  const y = inputs.b.data;
  const o = inputs.a.like('Float32', 1);
  const d = o.data;
  for (let i = 0; i < d.length; i++) d[i] = (x[i] + y[i]) * 0.5;
  outputs.mean = o;
}, 'mean');
`,
  );
  return file;
}
