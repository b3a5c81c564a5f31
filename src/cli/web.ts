// npm run web [-- --port 8080]: builds the page (src/web) and serves it on 127.0.0.1 until Ctrl-C.
import { parseArgs } from 'node:util';
import { buildWeb, serveStatic, WEB_OUT } from './web-build.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected a port number, got '${values.port}'`);
  await buildWeb();
  const { url } = await serveStatic(WEB_OUT, port);
  process.stdout.write(`[web] serving ${WEB_OUT} at ${url} (Ctrl-C stops)\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`web: ${(e as Error).message}\n`);
  process.exit(1);
});
