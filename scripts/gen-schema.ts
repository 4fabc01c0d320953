/**
 * Writes schema/job.schema.json (JSON Schema of the job file, input side) from the zod schema in
 * src/model/job-schema.ts, and schema/mesh.schema.json (the dependency file) from
 * src/model/mesh-schema.ts. Run with `npm run schema`; a test fails when a file is out of date.
 * Usage: node scripts/gen-schema.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jobSchemaFileText } from '../src/model/job-schema.ts';
import { meshSchemaFileText } from '../src/model/mesh-schema.ts';

for (const [name, text] of [
  ['job.schema.json', jobSchemaFileText()],
  ['mesh.schema.json', meshSchemaFileText()],
] as const) {
  write(fileURLToPath(new URL(`../schema/${name}`, import.meta.url)), text);
}

function write(target: string, text: string): void {
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      // missing: out of date
    }
    if (current !== text) {
      console.error(`${target} is out of date: run npm run schema`);
      process.exit(1);
    }
    console.log(`${target} is up to date`);
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
