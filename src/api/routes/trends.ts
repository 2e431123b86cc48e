/** Downsampled trends of a patient's HRV windows (min/mean/max per time bucket), for charts of long periods. */
import { z } from 'zod';
import { ValidationError } from '../../csp/index.js';
import { errorResponses, limitParam, personParams, timeParam } from '../schemas.js';
import { MAX_TREND_BUCKETS, readTrends, trendsAnswerSchema } from '../trends.js';
import { lastDayByDefault, type RoutePlugin } from './context.js';

/** Buckets when the caller names none: a chart's width in points. */
const DEFAULT_BUCKETS = 200;

const trendsQuery = z.strictObject({
  from: timeParam.optional(),
  to: timeParam.optional(),
  buckets: limitParam(MAX_TREND_BUCKETS).optional(),
  break_glass_reason: z.string().min(1).max(500).optional(),
});

export const trendRoutes: RoutePlugin = async (app, { csp, guard }) => {
  app.get(
    '/api/v1/patients/:id/trends',
    {
      onRequest: guard.auth,
      schema: {
        tags: ['records'],
        description: 'HRV windows of [from, to) (default: the last 24 h) in `buckets` equal buckets: min, mean and max of HR, SDNN, RMSSD and LF/HF.',
        params: personParams,
        querystring: trendsQuery,
        response: { 200: trendsAnswerSchema, ...errorResponses },
      },
    },
    async (request) => {
      const [from_ms, to_ms] = lastDayByDefault(request.query);
      if (!(to_ms > from_ms)) throw new ValidationError('to', 'must be after from');
      const { buckets = DEFAULT_BUCKETS, break_glass_reason } = request.query;
      return readTrends(csp, guard.who(request), request.params.id, { from_ms, to_ms, buckets, break_glass_reason });
    },
  );
};
