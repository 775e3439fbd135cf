/** S3's multipart limits, and the plan size this API keeps under Lambda's response limit. */
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;
/** AWS CLI's default part size; S3's own minimum is 5 MiB (except the last part). */
export const MIN_PART_SIZE = 8 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
/**
 * At most this many parts per plan, so the plan (one presigned URL per part, ~600 bytes each)
 * stays far below Lambda's 6 MB response limit. With 5 GiB parts that is 5,000 GiB.
 */
export const MAX_PARTS = 1000;
export const MAX_DIRECT_UPLOAD_BYTES = MAX_PARTS * MAX_PART_SIZE;
