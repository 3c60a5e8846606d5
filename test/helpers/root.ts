/** The repository root, wherever a test file sits under test/. */
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
