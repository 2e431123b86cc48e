/**
 * Request validation with the route's zod schemas (fastify-type-provider-zod). Envelope shapes of the HTTP
 * surface fail as 400 HRV_ERR_VALIDATION naming the field; a body that is one of the contracts fails the
 * way the CSP itself refuses it (422 HRV_ERR_CONTRACT naming the contract and field), so a caller gets
 * the same answer whether the edge or the CSP saw the problem first.
 */
import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import type { $ZodType } from 'zod/v4/core';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { parseContract } from '../contracts/index.js';

const contracts = new WeakMap<object, { name: string; schema: z.ZodType }>();

/** Marks `schema` as the contract `name` when used as a route's body (returns the schema itself). */
export function contractBody<S extends z.ZodType>(name: string, schema: S): S {
  contracts.set(schema, { name, schema });
  return schema;
}

/** The validator compiler of the API: contract bodies by `parseContract`, the rest by the type provider's. */
export const apiValidatorCompiler: FastifySchemaCompiler<$ZodType> = (route) => {
  const contract = contracts.get(route.schema);
  if (contract === undefined) return validatorCompiler(route);
  return (data) => {
    try {
      return { value: parseContract(contract.name, contract.schema, data) };
    } catch (error) {
      return { error: error instanceof Error ? error : new Error(String(error)) };
    }
  };
};
