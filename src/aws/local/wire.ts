/**
 * Wire helpers shared by the protocol modules: query-protocol form parameters in, XML and JSON
 * replies out, and the error every handler throws to produce an AWS-shaped refusal.
 */
import { randomUUID } from 'node:crypto';

/** A refusal: the HTTP status, the AWS error code, a message; each protocol renders it its own way. */
export class AwsApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function jsonReply(value: unknown, contentType = 'application/json', status = 200): Reply {
  return { status, headers: { 'content-type': contentType, 'x-amzn-requestid': randomUUID() }, body: JSON.stringify(value) };
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** An XML value: text, a nested element map, or a list rendered as repeated `item` elements. */
export type XmlValue = string | number | boolean | Date | undefined | null | XmlValue[] | { [name: string]: XmlValue };

/** Render children; lists become `<itemTag>` elements; undefined/null members are left out. */
export function xml(value: XmlValue, itemTag: string): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => `<${itemTag}>${xml(v, itemTag)}</${itemTag}>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `<${k}>${xml(v, itemTag)}</${k}>`)
      .join('');
  }
  return escapeXml(String(value));
}

/** Query-protocol parameters of a form body. */
export type QueryParams = Map<string, string>;

export function parseForm(body: string): QueryParams {
  return new Map(new URLSearchParams(body).entries());
}

/**
 * The members of a query-protocol list: `prefix.1`, `prefix.2`, … as strings, or, when the
 * members are structures, `prefix.1.Field` as records.
 */
export function queryList(params: QueryParams, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; params.has(`${prefix}.${i}`); i++) out.push(params.get(`${prefix}.${i}`)!);
  return out;
}

export function queryStructList(params: QueryParams, prefix: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (let i = 1; ; i++) {
    const head = `${prefix}.${i}.`;
    const rec: Record<string, string> = {};
    for (const [k, v] of params) if (k.startsWith(head)) rec[k.slice(head.length)] = v;
    if (Object.keys(rec).length === 0) break;
    out.push(rec);
  }
  return out;
}

/** A required parameter, or a ValidationError naming it. */
export function required(params: QueryParams, name: string): string {
  const v = params.get(name);
  if (v === undefined || v === '') {
    throw new AwsApiError('ValidationError', `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`);
  }
  return v;
}

export function requestId(): string {
  return randomUUID();
}

/** A request body member as an object ({} when it is not one). */
export const asRecord = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
/** A request body member as a list ([] when it is not one). */
export const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
