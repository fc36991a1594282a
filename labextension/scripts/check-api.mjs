// Fails when src/api.gen.ts is not what `jlpm gen:api` makes from openapi.json (the
// snapshot of the server's OpenAPI document that tests/test_labextension_api.py keeps true).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const scratch = mkdtempSync(join(tmpdir(), 'lepton-api-'));
const out = join(scratch, 'api.gen.ts');
try {
  const bin = join('node_modules', '.bin');
  execFileSync(join(bin, 'openapi-typescript'), ['openapi.json', '-o', out], { stdio: 'pipe' });
  execFileSync(join(bin, 'prettier'), ['--write', out, '--config', 'package.json'], { stdio: 'pipe' });
  if (readFileSync(out, 'utf8') !== readFileSync('src/api.gen.ts', 'utf8')) {
    console.error('src/api.gen.ts is stale: run `jlpm gen:api` in labextension/');
    process.exit(1);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
