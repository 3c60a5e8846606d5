/**
 * Reading CloudFormation templates: JSON, or YAML with the short-form intrinsic tags (`!Ref`,
 * `!Sub`, `!GetAtt`, …) turned into their long form (`{Ref: …}`, `{'Fn::Sub': …}`), so that
 * everything downstream sees one shape.
 */
import { isMap, isPair, isScalar, isSeq, parseDocument, type Node, type Tags } from 'yaml';

/** Short tags and the long-form key each becomes. */
const SHORT_TAGS: Record<string, string> = {
  '!Ref': 'Ref',
  '!Condition': 'Condition',
  '!Base64': 'Fn::Base64',
  '!Cidr': 'Fn::Cidr',
  '!FindInMap': 'Fn::FindInMap',
  '!GetAtt': 'Fn::GetAtt',
  '!GetAZs': 'Fn::GetAZs',
  '!ImportValue': 'Fn::ImportValue',
  '!Join': 'Fn::Join',
  '!Select': 'Fn::Select',
  '!Split': 'Fn::Split',
  '!Sub': 'Fn::Sub',
  '!Transform': 'Fn::Transform',
  '!And': 'Fn::And',
  '!Equals': 'Fn::Equals',
  '!If': 'Fn::If',
  '!Not': 'Fn::Not',
  '!Or': 'Fn::Or',
};

/** yaml tags that accept every short form on scalars, sequences and maps, keeping the node. */
function tagDefinitions(): Tags {
  const tags: Tags = [];
  for (const tag of Object.keys(SHORT_TAGS)) {
    tags.push({ tag, resolve: (value: string) => value });
    tags.push({ tag, collection: 'seq', resolve: (node) => node });
    tags.push({ tag, collection: 'map', resolve: (node) => node });
  }
  return tags;
}

/** A template as plain data, with intrinsic functions in long form. */
export type TemplateValue = string | number | boolean | null | TemplateValue[] | { [key: string]: TemplateValue };

function convert(node: unknown): TemplateValue {
  if (node === null || node === undefined) return null;
  const n = node as Node;
  let value: TemplateValue;
  if (isScalar(n)) {
    const v = n.value;
    value = v === undefined ? null : (v as TemplateValue);
  } else if (isSeq(n)) {
    value = n.items.map((item) => convert(item));
  } else if (isMap(n)) {
    const out: Record<string, TemplateValue> = {};
    for (const pair of n.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      out[key] = convert(pair.value);
    }
    value = out;
  } else {
    throw new Error(`unsupported YAML node in template: ${String(node)}`);
  }
  const tag = (n as { tag?: string }).tag;
  if (tag !== undefined && Object.prototype.hasOwnProperty.call(SHORT_TAGS, tag)) {
    const long = SHORT_TAGS[tag]!;
    if (long === 'Fn::GetAtt' && typeof value === 'string') {
      const dot = value.indexOf('.');
      value = dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)];
    }
    return { [long]: value };
  }
  return value;
}

/**
 * Parse a template body (JSON or YAML with CloudFormation short tags).
 * @throws Error with the parser's message when the text is not a template.
 */
export function parseTemplate(body: string): Record<string, TemplateValue> {
  const trimmed = body.trimStart();
  let data: TemplateValue;
  if (trimmed.startsWith('{')) {
    data = JSON.parse(body) as TemplateValue;
  } else {
    const doc = parseDocument(body, { customTags: tagDefinitions(), uniqueKeys: true });
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '));
    data = convert(doc.contents);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new Error('Template format error: the template is not a map');
  }
  return data;
}
