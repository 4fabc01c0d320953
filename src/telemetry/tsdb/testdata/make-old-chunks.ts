/**
 * Writes the old-encoder fixture `old-chunks/` (run once, with the session 8 encoder, before the
 * packed chunk mode existed; kept to show how it was made):
 *   node src/telemetry/tsdb/testdata/make-old-chunks.ts
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../../lib/index.ts';
import { HOUR_MS, TimeSeriesStore } from '../index.ts';
import { FIXTURE_POINTS, FIXTURE_SERIES, FIXTURE_T0 } from './old-chunks-points.ts';

const dir = join(import.meta.dirname, 'old-chunks');
rmSync(dir, { recursive: true, force: true });
const clock = new ManualClock(FIXTURE_T0);
const db = new TimeSeriesStore({ dir, clock });
for (const s of FIXTURE_SERIES) {
  const ref = db.ref(s.name, s.labels);
  for (let i = 0; i < FIXTURE_POINTS; i++) db.append(ref, s.time(i), s.value(i));
}
clock.advance(3 * HOUR_MS);
console.log(db.maintain());
db.close();
rmSync(join(dir, 'head'), { recursive: true, force: true });
