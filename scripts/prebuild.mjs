// Start every build from an empty dist/: tsc never removes the output of a source that is gone,
// and `npm pack` would ship it.
import { rmSync } from 'node:fs';
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
