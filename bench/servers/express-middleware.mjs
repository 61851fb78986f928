// The bare express 5 baseline (bench/servers/express-bare.mjs: GET /items from an
// array) with some of the example server's third-party middleware in front, configured
// as the example server configures it: MIDDLEWARE is a comma-separated list of
//   helmet     helmet() with its defaults, run per request
//   pino-http  pino-http logging one info line per request to a file (pino, async),
//              configured as the example configured it before it replaced pino-http with
//              its own request log (id, method, url, status; wrapSerializers: false)
// Used by bench/micro/express-middleware.mjs to see what the libraries cost on their own.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { pino } from 'pino';
import { createItems } from './baseline-items.mjs';

const fromExample = createRequire(
  fileURLToPath(new URL('../../examples/server/package.json', import.meta.url)),
);
const wanted = new Set((process.env.MIDDLEWARE ?? '').split(',').filter(Boolean));
const items = createItems();
for (let i = 0; i < Number(process.env.ITEMS ?? 10); i++) items.add({ name: `P${i}` });

const app = express();
app.disable('x-powered-by');
if (wanted.has('pino-http')) {
  const { pinoHttp } = await import('pino-http'); // a root dev dependency, for this
  const logger = pino(
    { level: 'info' },
    pino.destination({ dest: process.env.LOG_FILE ?? '/dev/null', sync: false }),
  );
  app.use(
    pinoHttp({
      logger,
      wrapSerializers: false,
      serializers: {
        req: (req) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, error) =>
        error !== undefined || res.statusCode >= 500 ? 'error' : 'info',
    }),
  );
}
if (wanted.has('helmet')) {
  const helmet = (await import(fromExample.resolve('helmet'))).default;
  app.use(helmet());
}
app.get('/items', (_req, res) => {
  res.json(items.list());
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
// SIGINT: exit at once (with --cpu-prof the profile is written on exit).
process.on('SIGINT', () => process.exit(0));
