/**
 * The schema compilers of the /_schedule routes, set inside the encapsulated routes so the
 * app's own choices (Ajv options, or a Zod type provider's compilers, which cannot read JSON
 * Schema) never change what the routes accept or answer.
 *
 * - validator: TypeBox's compiler, query strings converted from text first (as in
 *   @fastify/type-provider-typebox). A 400 names the field and what it accepts (the
 *   field's `description`), never the value sent.
 * - serializer: fast-json-stringify (Fastify's own default), so only the properties the
 *   response schema declares are written, at Fastify's speed.
 */
import type { FastifyReply, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import Value from 'typebox/value'
import { InvalidInputError } from '../core/errors.js'

interface SchemaError {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' }

function fieldsOf (schema: TSchema): Record<string, TSchema & { description?: string }> {
  return (schema as { properties?: Record<string, TSchema> }).properties ?? {}
}

/** One sentence for the first problem: an unknown field, a wrong field, or a body that is not an object. */
export function describeProblem (schema: TSchema, errors: readonly SchemaError[], part: string): string {
  const fields = fieldsOf(schema)
  const accepted = Object.keys(fields).join(', ')
  const unknown = errors.find(error => error.keyword === 'additionalProperties')
  if (unknown !== undefined) {
    const names = (unknown.params.additionalProperties as string[] | undefined) ?? []
    return `${part}: unknown field${names.length === 1 ? '' : 's'} ${names.map(name => `"${name}"`).join(', ')} (accepted: ${accepted})`
  }
  const wrong = errors.find(error => error.instancePath !== '')
  if (wrong === undefined) return `${part} must be an object with the fields ${accepted}`
  const field = wrong.instancePath.split('/')[1]
  const description = Object.hasOwn(fields, field) ? fields[field].description : undefined
  return description !== undefined
    ? `${part}.${field} is invalid: expected ${description}`
    : `${part}.${field} ${wrong.message ?? 'is invalid'}`
}

/** A plain object with no own enumerable key (what an absent query string parses to). */
export function isEmptyObject (value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  // The first key, if any, ends the loop: no array of keys is built on the hot path.
  // eslint-disable-next-line no-unreachable-loop
  for (const _ in value) return false
  return true
}

export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart = 'body' }) => {
  const validator = Compile(schema)
  const part = PART_NAMES[httpPart] ?? httpPart
  // Decided once: a pinger's URL has no query at all, and every field here is optional.
  const acceptsEmpty = validator.Check({})
  return (input: unknown) => {
    // No body at all (an empty ping; Fastify gives null) is no input, whatever the body schema says.
    if (httpPart === 'body' && (input === undefined || input === null)) return { value: undefined }
    const empty = isEmptyObject(input)
    if (empty && acceptsEmpty) return { value: input }
    // Query strings arrive as text: convert "10" to 10 before checking; bodies are checked as sent.
    const value = httpPart === 'body' || empty ? input : Value.Convert(schema, input)
    if (validator.Check(value)) return { value }
    return { error: new InvalidInputError(describeProblem(schema, validator.Errors(value) as SchemaError[], part)) }
  }
}

export const serializerCompiler: FastifySerializerCompiler<TSchema> = SerializerSelector()(undefined, {}) as FastifySerializerCompiler<TSchema>

/** The serializer the routes use for `schema`, for answers written ahead of time. */
export function compileSerializer (schema: TSchema): (value: unknown) => string {
  return serializerCompiler({ schema, method: 'POST', url: '', httpStatus: '200' }) as (value: unknown) => string
}

/** Send JSON a route's serializer already wrote: with a string and a JSON content type Fastify serializes nothing. */
export function sendSerialized (reply: FastifyReply, statusCode: number, json: string): FastifyReply {
  return reply.code(statusCode).header('content-type', 'application/json; charset=utf-8').send(json)
}
