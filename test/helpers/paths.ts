import fs from 'node:fs';
import path from 'node:path';

/** The repository root: the nearest folder above this file with a package.json. */
export function repoRoot(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json'))) {
    const up = path.dirname(d);
    if (up === d) throw new Error('package.json not found above ' + __dirname);
    d = up;
  }
  return d;
}

/**
 * The OF1.3 test vectors recorded in the repository (test/vectors/of13, see test/README.md).
 * $WEFT_VECTORS_DIR points the tests at another copy (e.g. a fresh export from os-ken).
 */
export function vectorsDir(): string {
  const d = process.env.WEFT_VECTORS_DIR ?? path.join(repoRoot(), 'test/vectors/of13');
  if (!fs.existsSync(path.join(d, 'packet'))) throw new Error(`OF1.3 vectors not found at ${d}`);
  return d;
}
