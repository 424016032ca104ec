/**
 * Loaded into a benchmarked process with `node --expose-gc --import
 * dist/bench/heap-probe.js`: on SIGUSR2 it collects garbage fully and prints
 * the memory left as one JSON line on stdout (msg "heap after gc"), which
 * ServiceProcess collects with the process's logs. Benchmarks only.
 */
const gc = (globalThis as { gc?: () => void }).gc;
process.on('SIGUSR2', () => {
  if (gc === undefined) {
    process.stdout.write(`${JSON.stringify({ msg: 'heap after gc', error: 'run with --expose-gc' })}\n`);
    return;
  }
  gc();
  gc();
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ msg: 'heap after gc', rss, heapTotal, heapUsed, external, arrayBuffers })}\n`);
});
