/**
 * job-anti-affinity: with spread scoring, prefer hosts with the fewest tasks of the job (so a job's
 * tasks spread over hosts even without spread rules). Off with binpack scoring, which packs a job's
 * tasks together unless spread rules or distinct hosts say otherwise.
 */
import type { ScorePlugin } from '../../plugin.ts';

export const jobAntiAffinity: ScorePlugin = {
  name: 'job-anti-affinity',
  forClass({ job, scoring }) {
    if (scoring !== 'spread') return [];
    return [{ score: (h) => -job.onHost(h) }];
  },
};
