/**
 * Evaluating a CloudFormation template for the local endpoint: parameters (defaults, overrides,
 * constraints), conditions, and the intrinsic functions Ref, Fn::Sub, Fn::GetAtt, Fn::Join,
 * Fn::Select, Fn::Split, Fn::GetAZs, Fn::If/Equals/And/Or/Not and Fn::Base64. Resources are
 * visited in dependency order; each gets a synthesised physical id and attributes (ARNs, ids,
 * URIs) from resources.ts, so that the outputs are what AWS would return in shape.
 */
import type { TemplateValue } from './cfnyaml.js';
import { synthesise, type EvalContext, type EvaluatedResource } from './resources.js';

export type { EvalContext, EvaluatedResource } from './resources.js';

/** A refusal CloudFormation reports as ValidationError (or the given code). */
export class TemplateError extends Error {
  constructor(
    message: string,
    readonly awsCode = 'ValidationError',
  ) {
    super(message);
  }
}

export interface EvaluatedStack {
  parameters: Record<string, string>;
  resources: EvaluatedResource[];
  outputs: { key: string; value: string; description?: string }[];
}

type Obj = Record<string, TemplateValue>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Declared parameter names, checked against the values given; defaults applied; constraints checked. */
export function resolveParameters(template: Obj, given: Record<string, string>): Record<string, string> {
  const declared = isObj(template.Parameters) ? template.Parameters : {};
  const unknown = Object.keys(given).filter((k) => !(k in declared));
  if (unknown.length > 0) throw new TemplateError(`Parameters: [${unknown.join(', ')}] do not exist in the template`);
  const out: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, decl] of Object.entries(declared)) {
    const d = isObj(decl) ? decl : {};
    const value = given[name] ?? (d.Default === undefined || d.Default === null ? undefined : String(d.Default));
    if (value === undefined) {
      missing.push(name);
      continue;
    }
    checkConstraint(name, d, value);
    out[name] = value;
  }
  if (missing.length > 0) throw new TemplateError(`Parameters: [${missing.join(', ')}] must have values`);
  return out;
}

function checkConstraint(name: string, d: Obj, value: string): void {
  const bad = (why: string): never => {
    const text = typeof d.ConstraintDescription === 'string' ? d.ConstraintDescription : why;
    throw new TemplateError(`Parameter '${name}' ${text}`);
  };
  if (d.Type === 'Number') {
    if (value.trim() === '' || !Number.isFinite(Number(value))) bad(`must be a number`);
    if (typeof d.MinValue === 'number' && Number(value) < d.MinValue) bad(`must be a number not less than ${d.MinValue}`);
    if (typeof d.MaxValue === 'number' && Number(value) > d.MaxValue) bad(`must be a number not greater than ${d.MaxValue}`);
  }
  if (Array.isArray(d.AllowedValues) && !d.AllowedValues.map(String).includes(value)) {
    bad(`must be one of AllowedValues`);
  }
  if (typeof d.AllowedPattern === 'string' && !new RegExp(`^(?:${d.AllowedPattern})$`).test(value)) {
    bad(`failed to satisfy constraint: Must match pattern ${d.AllowedPattern}`);
  }
}

const PSEUDO = ['AWS::StackName', 'AWS::StackId', 'AWS::Region', 'AWS::AccountId', 'AWS::Partition', 'AWS::URLSuffix', 'AWS::NoValue', 'AWS::NotificationARNs'];

/** Names a value refers to through Ref, GetAtt and Sub (for the dependency order). */
export function references(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) references(x, out);
  else if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'Ref' && typeof x === 'string') out.add(x);
      else if (k === 'Fn::GetAtt' && Array.isArray(x) && typeof x[0] === 'string') out.add(x[0]);
      else if (k === 'Fn::Sub') {
        const [text, vars] = Array.isArray(x) ? [x[0], x[1]] : [x, undefined];
        if (typeof text === 'string') {
          for (const m of text.matchAll(/\$\{([^}!][^}]*)\}/g)) {
            const name = m[1]!.split('.')[0]!;
            if (!(isObj(vars) && name in vars)) out.add(name);
          }
        }
        if (vars !== undefined) references(vars, out);
      } else references(x, out);
    }
  }
  return out;
}

const NO_VALUE = Symbol('AWS::NoValue');

export class TemplateEvaluator {
  private readonly resources = new Map<string, EvaluatedResource>();
  private readonly conditions = new Map<string, boolean>();

  constructor(
    private readonly template: Obj,
    private readonly params: Record<string, string>,
    private readonly ctx: EvalContext,
  ) {}

  /**
   * Evaluate conditions, every resource in dependency order, then the outputs.
   * @throws TemplateError for unresolvable references, cycles and malformed functions.
   */
  evaluate(): EvaluatedStack {
    const decl = isObj(this.template.Resources) ? this.template.Resources : undefined;
    if (!decl || Object.keys(decl).length === 0) {
      throw new TemplateError('Template format error: At least one Resources member must be defined.');
    }
    const condDecl = isObj(this.template.Conditions) ? this.template.Conditions : {};
    for (const name of Object.keys(condDecl)) this.condition(name);
    for (const id of this.order(decl)) {
      const r = decl[id];
      if (!isObj(r) || typeof r.Type !== 'string') throw new TemplateError(`Template format error: resource ${id} has no Type`);
      if (typeof r.Condition === 'string' && !this.condition(r.Condition)) continue;
      const props = isObj(r.Properties) ? (this.value(r.Properties) as Record<string, unknown>) : {};
      this.resources.set(id, synthesise(id, r.Type, props ?? {}, this.ctx));
    }
    const outputs: EvaluatedStack['outputs'] = [];
    const outDecl = isObj(this.template.Outputs) ? this.template.Outputs : {};
    for (const [key, o] of Object.entries(outDecl)) {
      if (!isObj(o)) continue;
      if (typeof o.Condition === 'string' && !this.condition(o.Condition)) continue;
      const value = this.value(o.Value);
      const out: EvaluatedStack['outputs'][number] = { key, value: this.str(value, `output ${key}`) };
      if (o.Description !== undefined) out.description = this.str(this.value(o.Description), `output ${key}`);
      outputs.push(out);
    }
    return { parameters: { ...this.params }, resources: [...this.resources.values()], outputs };
  }

  private order(decl: Obj): string[] {
    const done = new Set<string>();
    const visiting = new Set<string>();
    const out: string[] = [];
    const visit = (id: string): void => {
      if (done.has(id)) return;
      if (visiting.has(id)) throw new TemplateError(`Circular dependency between resources: [${[...visiting].join(', ')}]`);
      visiting.add(id);
      const r = decl[id] as Obj;
      const deps = references(r);
      const dependsOn = r.DependsOn;
      for (const d of Array.isArray(dependsOn) ? dependsOn : dependsOn === undefined ? [] : [dependsOn]) {
        if (typeof d !== 'string' || !(d in decl))
          throw new TemplateError(`Template format error: Unresolved resource dependencies [${String(d)}] in the Resources block of the template`);
        deps.add(d);
      }
      for (const d of deps) {
        if (d in decl) visit(d);
        else if (!(d in this.params) && !PSEUDO.includes(d)) {
          throw new TemplateError(`Template format error: Unresolved resource dependencies [${d}] in the Resources block of the template`);
        }
      }
      visiting.delete(id);
      done.add(id);
      out.push(id);
    };
    for (const id of Object.keys(decl)) visit(id);
    return out;
  }

  private condition(name: string): boolean {
    const known = this.conditions.get(name);
    if (known !== undefined) return known;
    const decl = isObj(this.template.Conditions) ? this.template.Conditions : {};
    if (!(name in decl)) throw new TemplateError(`Template format error: Unresolved condition ${name}`);
    const v = this.value(decl[name]);
    if (typeof v !== 'boolean') throw new TemplateError(`Template error: condition ${name} is not a boolean`);
    this.conditions.set(name, v);
    return v;
  }

  private str(v: unknown, where: string): string {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new TemplateError(`Template error: ${where} does not evaluate to a string`);
  }

  private ref(name: string): string | string[] | typeof NO_VALUE {
    if (name in this.params) return this.params[name]!;
    switch (name) {
      case 'AWS::StackName':
        return this.ctx.stackName;
      case 'AWS::StackId':
        return this.ctx.stackId;
      case 'AWS::Region':
        return this.ctx.region;
      case 'AWS::AccountId':
        return this.ctx.accountId;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::NotificationARNs':
        return [];
      case 'AWS::NoValue':
        return NO_VALUE;
    }
    const r = this.resources.get(name);
    if (!r) throw new TemplateError(`Template format error: Unresolved resource dependencies [${name}] in the Resources block of the template`);
    return r.physicalId;
  }

  private getAtt(id: string, attr: string): string {
    const r = this.resources.get(id);
    if (!r) throw new TemplateError(`Template error: instance of Fn::GetAtt references undefined resource ${id}`);
    const v = r.attributes[attr];
    if (v === undefined) throw new TemplateError(`Template error: resource ${id} (${r.type}) does not support attribute ${attr}`);
    return v;
  }

  /** Evaluate a value: intrinsic functions replaced, AWS::NoValue removed. */
  value(v: TemplateValue | undefined): unknown {
    if (Array.isArray(v)) return v.map((x) => this.value(x)).filter((x) => x !== NO_VALUE);
    if (!isObj(v)) return v;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const k = keys[0]!;
      const arg = v[k]!;
      if (k === 'Ref') return this.ref(this.str(arg, 'Ref'));
      if (k === 'Condition' && typeof arg === 'string') return this.condition(arg);
      if (k.startsWith('Fn::')) return this.fn(k, arg);
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const e = this.value(x);
      if (e !== NO_VALUE) out[k] = e;
    }
    return out;
  }

  private fn(name: string, arg: TemplateValue): unknown {
    const list = (n: number): TemplateValue[] => {
      if (!Array.isArray(arg) || arg.length !== n) throw new TemplateError(`Template error: ${name} takes a list of ${n}`);
      return arg;
    };
    switch (name) {
      case 'Fn::GetAtt': {
        const [id, attr] = list(2);
        return this.getAtt(this.str(id, name), this.str(this.value(attr), name));
      }
      case 'Fn::Sub':
        return this.sub(arg);
      case 'Fn::Join': {
        const [sep, items] = list(2);
        const values = this.value(items);
        if (!Array.isArray(values)) throw new TemplateError('Template error: Fn::Join needs a list of values');
        return values.map((x) => this.str(x, name)).join(this.str(sep, name));
      }
      case 'Fn::Select': {
        const [index, items] = list(2);
        const values = this.value(items);
        const i = Number(this.value(index));
        if (!Array.isArray(values) || !Number.isInteger(i) || i < 0 || i >= values.length) {
          throw new TemplateError(`Template error: Fn::Select cannot select nonexistent value at index ${String(i)}`);
        }
        return values[i];
      }
      case 'Fn::Split': {
        const [sep, text] = list(2);
        return this.str(this.value(text), name).split(this.str(sep, name));
      }
      case 'Fn::GetAZs': {
        const region = this.value(arg);
        const r = typeof region === 'string' && region !== '' ? region : this.ctx.region;
        return ['a', 'b', 'c'].map((s) => r + s);
      }
      case 'Fn::Base64':
        return Buffer.from(this.str(this.value(arg), name)).toString('base64');
      case 'Fn::Equals': {
        const [a, b] = list(2);
        return JSON.stringify(this.value(a)) === JSON.stringify(this.value(b));
      }
      case 'Fn::Not':
        return !this.value(list(1)[0]);
      case 'Fn::And':
      case 'Fn::Or': {
        if (!Array.isArray(arg)) throw new TemplateError(`Template error: ${name} takes a list`);
        const values = arg.map((x) => this.value(x) === true);
        return name === 'Fn::And' ? values.every(Boolean) : values.some(Boolean);
      }
      case 'Fn::If': {
        const [cond, yes, no] = list(3);
        return this.condition(this.str(cond, name)) ? this.value(yes) : this.value(no);
      }
      default:
        throw new TemplateError(`Template format error: Unsupported intrinsic function ${name}`);
    }
  }

  private sub(arg: TemplateValue): string {
    const [text, vars] = Array.isArray(arg) ? [arg[0], arg[1]] : [arg, undefined];
    const locals = isObj(vars) ? (this.value(vars) as Record<string, unknown>) : {};
    return this.str(text, 'Fn::Sub').replace(/\$\{([^}]*)\}/g, (whole, body: string) => {
      if (body.startsWith('!')) return '${' + body.slice(1) + '}';
      if (body in locals) return this.str(locals[body], 'Fn::Sub');
      const dot = body.indexOf('.');
      if (dot > 0 && !body.startsWith('AWS::')) return this.getAtt(body.slice(0, dot), body.slice(dot + 1));
      const v = this.ref(body);
      if (typeof v !== 'string') throw new TemplateError(`Template error: variable ${whole} in Fn::Sub is not a string`);
      return v;
    });
  }
}
