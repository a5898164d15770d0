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

/** The OF1.3 test vectors (../shared/vectors/of13 next to the checkout, or $WEFT_VECTORS_DIR). */
export function vectorsDir(): string {
  const d = process.env.WEFT_VECTORS_DIR ?? path.resolve(repoRoot(), '../shared/vectors/of13');
  if (!fs.existsSync(path.join(d, 'packet'))) throw new Error(`OF1.3 vectors not found at ${d}`);
  return d;
}
