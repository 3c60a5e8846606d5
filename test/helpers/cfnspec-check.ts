/**
 * Checking a CloudFormation template against the CloudFormation resource specification
 * (npm @aws-cdk/cfnspec): resource types, properties (nested property types too), required
 * properties, primitive value kinds, and every Ref, GetAtt, Sub variable and DependsOn.
 * Returns the problems found (empty when the template is sound).
 */
import { createRequire } from 'node:module';

interface PropSpec {
  PrimitiveType?: string;
  PrimitiveItemType?: string;
  Type?: string;
  ItemType?: string;
  Required?: boolean;
}
interface TypeSpec {
  Properties?: Record<string, PropSpec>;
  Attributes?: Record<string, unknown>;
}
export interface CfnSpec {
  ResourceTypes: Record<string, TypeSpec>;
  PropertyTypes: Record<string, TypeSpec>;
}

export function loadSpec(): CfnSpec {
  const require = createRequire(import.meta.url);
  return (require('@aws-cdk/cfnspec') as { specification(): CfnSpec }).specification();
}

const PSEUDO = new Set([
  'AWS::StackName',
  'AWS::StackId',
  'AWS::Region',
  'AWS::AccountId',
  'AWS::Partition',
  'AWS::URLSuffix',
  'AWS::NoValue',
  'AWS::NotificationARNs',
]);
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isIntrinsic = (v: unknown): boolean => isObj(v) && Object.keys(v).length === 1 && /^(Ref|Fn::.*|Condition)$/.test(Object.keys(v)[0]!);

export function checkTemplate(template: Obj, spec: CfnSpec): string[] {
  const problems: string[] = [];
  const params = isObj(template.Parameters) ? template.Parameters : {};
  const resources = isObj(template.Resources) ? template.Resources : {};
  const typeOf = (id: string): string | undefined => (isObj(resources[id]) ? (resources[id].Type as string) : undefined);

  const checkGetAtt = (where: string, id: string, attr: string): void => {
    const type = typeOf(id);
    if (type === undefined) return void problems.push(`${where}: GetAtt of unknown resource ${id}`);
    const attrs = spec.ResourceTypes[type]?.Attributes ?? {};
    if (!(attr in attrs)) problems.push(`${where}: ${type} has no attribute ${attr} (has ${Object.keys(attrs).join(', ') || 'none'})`);
  };
  const checkName = (where: string, name: string): void => {
    if (!(name in params) && !(name in resources) && !PSEUDO.has(name)) problems.push(`${where}: Ref to unknown name ${name}`);
  };

  /** Every intrinsic reference inside a value. */
  const walkRefs = (where: string, v: unknown): void => {
    if (Array.isArray(v)) return v.forEach((x) => walkRefs(where, x));
    if (!isObj(v)) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'Ref') {
        if (typeof x !== 'string') problems.push(`${where}: Ref of a non-string`);
        else checkName(where, x);
      } else if (k === 'Fn::GetAtt') {
        if (!Array.isArray(x) || x.length !== 2 || typeof x[0] !== 'string' || typeof x[1] !== 'string') problems.push(`${where}: malformed GetAtt`);
        else checkGetAtt(where, x[0], x[1]);
      } else if (k === 'Fn::Sub') {
        const [text, vars] = Array.isArray(x) ? [x[0], x[1]] : [x, undefined];
        if (typeof text !== 'string') problems.push(`${where}: Sub of a non-string`);
        else {
          for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
            const body = m[1]!;
            if (body.startsWith('!') || (isObj(vars) && body in vars)) continue;
            const dot = body.indexOf('.');
            if (dot > 0 && !body.startsWith('AWS::')) checkGetAtt(where, body.slice(0, dot), body.slice(dot + 1));
            else checkName(where, body);
          }
        }
        if (vars !== undefined) walkRefs(where, vars);
      } else walkRefs(where, x);
    }
  };

  const checkValue = (where: string, value: unknown, p: PropSpec, resourceType: string): void => {
    if (isIntrinsic(value)) return;
    const prim = (kind: string | undefined, v: unknown, w: string): void => {
      if (isIntrinsic(v) || kind === undefined || kind === 'Json') return;
      const ok =
        kind === 'String'
          ? typeof v === 'string' || typeof v === 'number'
          : kind === 'Integer' || kind === 'Long'
            ? Number.isInteger(Number(v)) && v !== '' && typeof v !== 'boolean'
            : kind === 'Double'
              ? Number.isFinite(Number(v)) && typeof v !== 'boolean'
              : kind === 'Boolean'
                ? typeof v === 'boolean' || v === 'true' || v === 'false'
                : true;
      if (!ok) problems.push(`${w}: ${JSON.stringify(v)} is not a ${kind}`);
    };
    if (p.PrimitiveType) return prim(p.PrimitiveType, value, where);
    const struct = (name: string, v: unknown, w: string): void => {
      if (isIntrinsic(v)) return;
      const t = spec.PropertyTypes[`${resourceType}.${name}`] ?? spec.PropertyTypes[name];
      if (!t) return void problems.push(`${w}: property type ${name} not in the specification`);
      if (!isObj(v)) return void problems.push(`${w}: expected a ${name} structure`);
      checkProps(w, v, t, resourceType);
    };
    if (p.Type === 'List' || p.Type === 'Map') {
      const items = p.Type === 'List' ? value : isObj(value) ? Object.values(value) : undefined;
      if (!Array.isArray(items)) return void problems.push(`${where}: expected a ${p.Type}`);
      items.forEach((item, i) => (p.ItemType ? struct(p.ItemType, item, `${where}[${i}]`) : prim(p.PrimitiveItemType, item, `${where}[${i}]`)));
    } else if (p.Type) struct(p.Type, value, where);
  };

  const checkProps = (where: string, props: Obj, t: TypeSpec, resourceType: string): void => {
    const known = t.Properties ?? {};
    for (const [name, value] of Object.entries(props)) {
      const p = known[name];
      if (!p) problems.push(`${where}: unknown property ${name}`);
      else checkValue(`${where}.${name}`, value, p, resourceType);
    }
    for (const [name, p] of Object.entries(known)) if (p.Required && !(name in props)) problems.push(`${where}: required property ${name} missing`);
  };

  for (const [id, r] of Object.entries(resources)) {
    if (!isObj(r) || typeof r.Type !== 'string') {
      problems.push(`${id}: no Type`);
      continue;
    }
    const t = spec.ResourceTypes[r.Type];
    if (!t) {
      problems.push(`${id}: resource type ${r.Type} not in the specification`);
      continue;
    }
    checkProps(id, isObj(r.Properties) ? r.Properties : {}, t, r.Type);
    walkRefs(id, r.Properties);
    const deps = r.DependsOn === undefined ? [] : Array.isArray(r.DependsOn) ? r.DependsOn : [r.DependsOn];
    for (const d of deps) if (typeof d !== 'string' || !(d in resources)) problems.push(`${id}: DependsOn unknown resource ${String(d)}`);
  }
  for (const [key, o] of Object.entries(isObj(template.Outputs) ? template.Outputs : {})) {
    if (!isObj(o) || !('Value' in o)) problems.push(`output ${key}: no Value`);
    else walkRefs(`output ${key}`, o.Value);
  }
  return problems;
}
