/** The HTTP API (fastify) and the access stack that serves it with the dashboard; used only through this file. */
export * from './server.js';
export * from './stack.js';
export { foldTrend, readTrends } from './trends.js';
