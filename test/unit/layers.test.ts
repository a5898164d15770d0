// The layers point one way: southbound <- controller <- apps <- northbound
// (docs/architecture.md). A module may import from its own layer and the
// ones below it, never from a layer above.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths';

const ORDER = ['southbound', 'controller', 'apps', 'northbound'];

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? tsFiles(p) : d.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier a file imports, statically or with import(). */
function imports(src: string): string[] {
  const out: string[] = [];
  for (const m of src.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  return out;
}

test('no layer imports from a layer above it', () => {
  const root = repoRoot();
  const wrong: string[] = [];
  let checked = 0;
  for (const [rank, layer] of ORDER.entries()) {
    for (const file of tsFiles(path.join(root, layer))) {
      for (const spec of imports(fs.readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        const target = path.relative(root, path.resolve(path.dirname(file), spec)).split(path.sep)[0]!;
        const targetRank = ORDER.indexOf(target);
        checked++;
        if (targetRank > rank) wrong.push(`${path.relative(root, file)} imports ${spec} (${target} is above ${layer})`);
      }
    }
  }
  assert.ok(checked > 200, `only ${checked} imports seen: the scan is broken`);
  assert.deepEqual(wrong, []);
});

test('the scan sees what it must refuse', () => {
  assert.deepEqual(imports("import { a } from '../apps/x';\nconst m = await import('../northbound/y');\nimport type { T } from './z';"), ['../apps/x', '../northbound/y', './z']);
});
