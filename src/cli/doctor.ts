/**
 * `riots doctor`: what riots needs on this machine, checked, with the fix for what is missing.
 * Nothing is changed and no AWS call is made: GDAL and its drivers, the bundler that process
 * workers use, the container engine for images, where AWS calls would go and with which
 * region and credentials, and the batch systems on PATH.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

export const help = `usage: riots doctor [--json]

Check what riots needs on this machine and print what to fix:
  node          the Node.js version riots supports
  gdal          gdal-async loads, built against the system GDAL, with the drivers riots writes
  bundler       esbuild, which packs your function for process workers (CW_SUBPROC, Batch, ECS, SLURM, PBS)
  images        a container engine, Docker or podman, answering 'info' (for riots batch build-image)
  aws           where AWS calls go, the region (riots' rule) and whether credentials are set
  clusters      sbatch (CW_SLURM) and qsub (CW_PBS) on PATH

Lines start with ok, FAIL (riots cannot work: the line says the fix) or note (needed only for
some uses). The exit code is 1 when a line is FAIL. No AWS call is made and nothing is changed.

  --json     one JSON object per check: {check, status, text}`;

type Status = 'ok' | 'FAIL' | 'note';
interface Finding {
  check: string;
  status: Status;
  text: string;
}

const requireHere = createRequire(import.meta.url);

function nodeCheck(): Finding {
  const pkg = requireHere('../../package.json') as { engines?: { node?: string } };
  const min = Number(/(\d+)/.exec(pkg.engines?.node ?? '20')?.[1] ?? 20);
  const major = Number(process.versions.node.split('.')[0]);
  return major >= min
    ? { check: 'node', status: 'ok', text: `Node.js ${process.versions.node} (riots needs ${min} or later)` }
    : { check: 'node', status: 'FAIL', text: `Node.js ${process.versions.node}: riots needs ${min} or later; install a newer Node.js` };
}

async function gdalChecks(): Promise<Finding[]> {
  const { loadGdal } = await import('../gdal/index.js');
  let g: ReturnType<typeof loadGdal>;
  try {
    g = loadGdal();
  } catch (err) {
    return [{ check: 'gdal', status: 'FAIL', text: (err as Error).message }];
  }
  const out: Finding[] = [];
  const where = g.bundled ? "gdal-async's own bundled copy" : 'the system GDAL';
  const pkg = requireHere(path.join(path.dirname(requireHere.resolve('gdal-async')), '..', 'package.json')) as { version: string };
  out.push({ check: 'gdal', status: 'ok', text: `gdal-async ${pkg.version} with GDAL ${g.version} (${where})` });
  if (g.bundled) {
    out.push({
      check: 'gdal',
      status: 'note',
      text: "gdal-async uses its bundled GDAL, not the system's (gdalinfo, Python): to build it against the system GDAL, npm_config_build_from_source=true npm_config_shared_gdal=true npm rebuild gdal-async",
    });
  }
  const has = (d: string): boolean => {
    try {
      g.drivers.get(d);
      return true;
    } catch {
      return false;
    }
  };
  const missing = ['GTiff', 'HFA', 'VRT', 'MEM'].filter((d) => !has(d));
  out.push(
    missing.length === 0
      ? { check: 'gdal', status: 'ok', text: 'drivers GTiff, HFA, VRT and MEM' }
      : {
          check: 'gdal',
          status: 'FAIL',
          text: `this GDAL has no ${missing.join(', ')} driver: riots needs them; install a complete GDAL (Debian: libgdal-dev gdal-bin)`,
        },
  );
  if (!has('KEA'))
    out.push({
      check: 'gdal',
      status: 'note',
      text: 'no KEA driver in this GDAL: .kea outputs are written as GeoTIFF unless a GDAL with KEA is installed (Debian 12 has none; conda-forge GDAL has it)',
    });
  return out;
}

function bundlerCheck(): Finding {
  try {
    const esbuild = requireHere('esbuild') as { version: string; transformSync(code: string, o: { loader: string }): { code: string } };
    esbuild.transformSync('let x: number = 1', { loader: 'ts' });
    return { check: 'bundler', status: 'ok', text: `esbuild ${esbuild.version}` };
  } catch (err) {
    return {
      check: 'bundler',
      status: 'FAIL',
      text: `esbuild does not run (${(err as Error).message.split('\n')[0]}): process workers need it; in the project that installed riots: npm approve-scripts esbuild && npm rebuild esbuild`,
    };
  }
}

async function imagesCheck(): Promise<Finding> {
  const { chooseEngine } = await import('../containerengine.js');
  try {
    const engine = await chooseEngine();
    return { check: 'images', status: 'ok', text: `'${engine} info' answers: riots batch build-image builds and pushes images with ${engine}` };
  } catch (err) {
    return { check: 'images', status: 'note', text: `${(err as Error).message} (needed only for riots batch build-image)` };
  }
}

async function awsChecks(): Promise<Finding[]> {
  const out: Finding[] = [];
  const { resolveRegion, resolvedEndpoint } = await import('../aws/clients.js');
  const endpoint = await resolvedEndpoint().catch((e: Error) => `nowhere yet (${e.message})`);
  out.push({
    check: 'aws',
    status: 'note',
    text: /\.amazonaws\.com(:\d+)?$/.test(endpoint)
      ? `AWS calls go to AWS itself (${endpoint})`
      : `AWS calls go to ${endpoint} (a local endpoint such as riots batch local?)`,
  });
  const r = await resolveRegion();
  out.push(
    r.region
      ? { check: 'aws', status: 'ok', text: `region ${r.region} (from ${r.from})` }
      : {
          check: 'aws',
          status: 'note',
          text: 'no region: set --region, RIOS_AWSBATCH_REGION, AWS_REGION, AWS_DEFAULT_REGION or a profile region (needed for AWS)',
        },
  );
  const env = process.env;
  const home = homedir();
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'
      : env.AWS_PROFILE
        ? `profile ${env.AWS_PROFILE}`
        : env.AWS_WEB_IDENTITY_TOKEN_FILE
          ? 'a web identity token'
          : env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI
            ? 'the container (ECS task role)'
            : [env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE ?? path.join(home, '.aws', 'config')].find((f) =>
                existsSync(f),
              );
  out.push(
    credentials
      ? { check: 'aws', status: 'ok', text: `credentials from ${credentials} (not checked against AWS)` }
      : {
          check: 'aws',
          status: 'note',
          text: 'no AWS credentials in the environment or ~/.aws (on EC2 the instance role may still give them); needed for AWS',
        },
  );
  return out;
}

function clusterChecks(): Finding[] {
  const on = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  return [
    ['sbatch', 'CW_SLURM'],
    ['qsub', 'CW_PBS'],
  ].map(([cmd, kind]) =>
    on(cmd!)
      ? { check: 'clusters', status: 'ok' as const, text: `${cmd} on PATH (${kind})` }
      : { check: 'clusters', status: 'note' as const, text: `no ${cmd} on PATH (needed only for ${kind})` },
  );
}

/** Every check, in the order printed. */
export async function diagnose(): Promise<Finding[]> {
  return [nodeCheck(), ...(await gdalChecks()), bundlerCheck(), await imagesCheck(), ...(await awsChecks()), ...clusterChecks()];
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, strict: true });
  const findings = await diagnose();
  if (values.json) process.stdout.write(findings.map((f) => JSON.stringify(f)).join('\n') + '\n');
  else process.stdout.write(findings.map((f) => `${f.status.padEnd(4)}  ${f.check.padEnd(8)}  ${f.text}`).join('\n') + '\n');
  return findings.some((f) => f.status === 'FAIL') ? 1 : 0;
}
