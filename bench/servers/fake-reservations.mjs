// The external reservation service for benchmarks: @cartkit/testing's fake service
// (real HTTP) in its own process. PORT and LATENCY_MS from the environment.
import { startFakeReservationService } from '@cartkit/testing';

const service = await startFakeReservationService({
  port: Number(process.env.PORT ?? 0),
  faults: { latencyMs: Number(process.env.LATENCY_MS ?? 0) },
});
process.stdout.write(`${JSON.stringify({ url: service.url })}\n`);
process.on('SIGTERM', () => service.close().then(() => process.exit(0)));
