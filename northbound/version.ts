// The package's version, read from package.json beside dist/ at run time
// (package.json is outside the compiled tree, so it is read, not imported).
import fs from 'node:fs';
import path from 'node:path';

export function version(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
}
