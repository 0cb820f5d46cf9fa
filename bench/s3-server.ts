// The bench's S3-protocol server: the tests' throwaway s3rver (test/helpers/s3.ts) in its own
// process, so that its CPU is not the bench's. Prints {"endpoint","bucket","dir"} on stdout once
// listening; stops (and removes its data) when stdin closes or on SIGTERM.
import { startS3, S3_KEY, S3_SECRET } from '../test/helpers/s3.js';

const s3 = await startS3('bench');
process.stdout.write(JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, dir: s3.dir, key: S3_KEY, secret: S3_SECRET }) + '\n');
const stop = () => void s3.stop().then(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
