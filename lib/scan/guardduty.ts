import { isBytes, type Scanner } from './scanner';

/**
 * `SCANNER=guardduty`: GuardDuty Malware Protection for S3 scans each object after it lands
 * and reports through EventBridge, so the request that stores a file gets no verdict. Callers
 * record the file `pending` and never call `scan`; calling it is a bug and rejects (a 500),
 * rather than answering clean for bytes nobody has looked at.
 */
export const guardDutyScanner: Scanner = Object.freeze<Scanner>({
  backend: 'guardduty',
  scan: async (source) => {
    if (!isBytes(source)) source.destroy();
    throw new Error('GuardDuty scans asynchronously: record the file as pending instead of calling scan()');
  },
});
