import { LOG_DROPS_HEADER, LOG_GAPS_HEADER, type LogDrop, type LogGap } from '../model/index.ts';

/** Hands a log stream's notes of missing output (LOG_GAPS_HEADER, LOG_DROPS_HEADER) to the caller. */
export function logHoleNotes(
  headers: Headers,
  o: { onGaps?: (gaps: LogGap[]) => void; onDrops?: (drops: LogDrop[]) => void },
): void {
  const gaps = headers.get(LOG_GAPS_HEADER);
  const drops = headers.get(LOG_DROPS_HEADER);
  try {
    if (gaps !== null && o.onGaps) o.onGaps(JSON.parse(gaps) as LogGap[]);
    if (drops !== null && o.onDrops) o.onDrops(JSON.parse(drops) as LogDrop[]);
  } catch {
    // a malformed header: no note
  }
}
